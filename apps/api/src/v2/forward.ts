// `--mirror-forward-push`: a write to a mirror's /v2 (upload POST/PATCH/PUT, manifest PUT/DELETE)
// is relayed as it came to the first upstream, body streamed both ways; the upstream's Location
// headers are rewritten to paths on the mirror so the client's next chunk comes back here. The
// client's Authorization goes along (Basic credentials for an htpasswd upstream work; a bearer
// token realm of the upstream is the client's business).
import { rawResponse } from "../responses.js"
import * as http from "node:http"
import * as https from "node:https"
import type { HttpServerResponse } from "effect/http"
import { DistributionError } from "../errors.js"
import type { V2Request } from "./context.js"

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "host", "te", "trailer"])

export const forwardWrite = (upstream: string, r: V2Request): Promise<HttpServerResponse.HttpServerResponse> =>
  new Promise((resolve, reject) => {
    const loopback = /^(127\.|localhost|\[::1\])/.test(upstream)
    const base = new URL(`${loopback ? "http" : "https"}://${upstream}`)
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(r.req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v
    const q = r.query.toString()
    const req = (base.protocol === "https:" ? https : http).request(
      { host: base.hostname, port: base.port || undefined, method: r.method, path: `${r.path}${q ? `?${q}` : ""}`, headers },
      (res) => {
        const out: Record<string, string> = {}
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined || HOP.has(k)) continue
          const value = Array.isArray(v) ? v.join(", ") : v
          out[k] = k === "location" ? value.replace(/^https?:\/\/[^/]+/, "") : value
        }
        resolve(rawResponse(res, { status: res.statusCode ?? 502, headers: out }))
      }
    )
    req.on("error", (e) =>
      reject(new DistributionError({ status: 502, code: "UNKNOWN", reason: `could not forward ${r.method} ${r.path} to the upstream ${upstream}: ${e.message}`, detail: { upstream } }))
    )
    r.req.pipe(req)
  })
