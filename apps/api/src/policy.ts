// Who may talk to the service, decided from the request line and headers before any handler runs:
// the defences against web pages in the user's browser (cross-site requests, DNS rebinding).
// A browser attaches `Origin` to every cross-origin fetch, form POST and EventSource, and
// `Sec-Fetch-Site` to every request; a page that rebinds its own name to 127.0.0.1 sends its
// own name as `Host`. Non-browser clients (skopeo, curl, cairn) send none of those.
import type { IncomingMessage } from "node:http"

/** An address literal or name that stays on this machine: 127.0.0.0/8, ::1, localhost. */
export const isLoopbackAddress = (host: string): boolean => {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1")
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h)
  if (!v4) return false
  return v4.slice(1).every((o) => Number(o) <= 255) && v4[1] === "127"
}

/** A `Host` header naming this machine: a loopback address or `localhost`, with any port. */
export const isLoopbackHostHeader = (value: string | undefined): boolean => {
  if (value === undefined) return false
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec(value.trim())
  return m !== null && isLoopbackAddress(m[1] as string)
}

export type PolicyRefusal = { readonly status: number; readonly code: string; readonly reason: string }

export interface PolicyOptions {
  /** a token is required on every request: Host is then not restricted */
  readonly tokenRequired: boolean
  /** origins (scheme://host[:port]) that count as this service, besides http(s)://<Host> */
  readonly ownOrigins: readonly string[]
}

const ownOrigin = (origin: string, req: IncomingMessage, options: PolicyOptions): boolean => {
  const o = origin.toLowerCase()
  const host = req.headers.host?.toLowerCase()
  if (host !== undefined && (o === `http://${host}` || o === `https://${host}`)) return true
  return options.ownOrigins.some((x) => x.toLowerCase() === o)
}

/** Undefined when the request may proceed, else why it is refused (403). */
export const refuseRequest = (req: IncomingMessage, options: PolicyOptions): PolicyRefusal | undefined => {
  // DNS rebinding: a page at attacker.example whose name now resolves to 127.0.0.1 is
  // same-origin with us in the browser's eyes; only its Host header gives it away
  if (!options.tokenRequired && !isLoopbackHostHeader(req.headers.host)) {
    return {
      status: 403,
      code: "FORBIDDEN_HOST",
      reason: "without a token this service answers only requests addressed to a loopback Host (127.0.0.1, localhost, [::1])"
    }
  }
  const origin = req.headers.origin
  if (origin !== undefined && !ownOrigin(origin, req, options)) {
    return { status: 403, code: "FORBIDDEN_ORIGIN", reason: `cross-origin requests are refused (Origin: ${origin.slice(0, 200)})` }
  }
  const site = req.headers["sec-fetch-site"]
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return { status: 403, code: "FORBIDDEN_ORIGIN", reason: `requests from other sites are refused (Sec-Fetch-Site: ${String(site).slice(0, 40)})` }
  }
  return undefined
}

/** The media type of the body, lower case, without parameters; undefined when absent. */
export const mediaType = (req: IncomingMessage): string | undefined => {
  const v = req.headers["content-type"]
  if (v === undefined) return undefined
  return v.split(";")[0]?.trim().toLowerCase()
}

/** Whether the request carries a body (declared length above 0, or chunked). */
export const hasBody = (req: IncomingMessage): boolean => {
  const len = req.headers["content-length"]
  if (len !== undefined) return len !== "0"
  return req.headers["transfer-encoding"] !== undefined
}

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json$/

export const isJsonType = (type: string | undefined): boolean => type !== undefined && JSON_TYPE.test(type)
