// What the service answers when something is refused or fails: error bodies (the /v2 form or the
// JSON API's, status from the tag table, server paths scrubbed), and the checks that refuse.
import type { IncomingMessage } from "node:http"
import { isEngineError } from "@cairn/engine"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import { HttpServerResponse } from "effect/http"
import { ApiError, BodyStalledError, BodyTooLargeError, DistributionError } from "./errors.js"
import { statusOfTag } from "./errorStatus.js"
import { isLoopbackAddress } from "./policy.js"

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Replace server-side paths (under the root or the temp directory) in text sent to a client. */
export const pathScrubber = (prefixes: readonly string[]): ((text: string) => string) => {
  const alternatives = [...new Set(prefixes.filter((p) => p.length > 1))].sort((a, b) => b.length - a.length).map(escapeRegExp)
  if (alternatives.length === 0) return (t) => t
  const re = new RegExp(`(?:${alternatives.join("|")})(?:/[^\\s'"\`,;)]*)?`, "g")
  return (text) => text.replace(re, "<server path>")
}

/** A request the client gave up on (closed the connection) or stopped sending: not a server failure. */
export const clientGaveUp = (e: unknown, req: IncomingMessage): boolean =>
  e instanceof BodyStalledError ||
  (typeof e === "object" && e !== null && ((e as { code?: unknown }).code === "ECONNRESET" || (e as { code?: unknown }).code === "ERR_STREAM_PREMATURE_CLOSE")) ||
  (req.destroyed && !req.complete)

/** A failure as the response a client gets: the /v2 error form or the JSON API's, status by tag, server paths scrubbed. */
export const errorResponse = (e: unknown, v2: boolean, scrub: (text: string) => string = (t) => t): HttpServerResponse.HttpServerResponse => {
  if (e instanceof DistributionError) {
    return HttpServerResponse.jsonUnsafe(
      { errors: [{ code: e.code, message: scrub(e.reason), detail: e.detail ?? null }] },
      { status: e.status, headers: e.headers ?? {} }
    )
  }
  if (e instanceof ApiError) {
    if (v2) return errorResponse(new DistributionError({ status: e.status, code: e.status === 401 ? "UNAUTHORIZED" : e.status === 403 || e.status === 405 ? "DENIED" : "UNSUPPORTED", reason: e.reason, ...(e.headers ? { headers: e.headers } : {}) }), true, scrub)
    return HttpServerResponse.jsonUnsafe({ error: { code: e.code, message: scrub(e.reason), ...(e.detail === undefined ? {} : { detail: e.detail }) } }, { status: e.status, headers: e.headers ?? {} })
  }
  if (e instanceof BodyTooLargeError) {
    return errorResponse(v2 ? new DistributionError({ status: 413, code: "SIZE_INVALID", reason: e.message }) : new ApiError({ status: 413, code: "BODY_TOO_LARGE", reason: e.message }), v2)
  }
  if (e instanceof BodyStalledError) {
    return errorResponse(v2 ? new DistributionError({ status: 408, code: "BLOB_UPLOAD_INVALID", reason: e.message }) : new ApiError({ status: 408, code: "BODY_STALLED", reason: e.message }), v2)
  }
  const tag = isEngineError(e) ? e._tag : "InternalError"
  // engine and store messages may name files under the root: the client gets them without
  const message = scrub(e instanceof Error ? e.message : String(e))
  const status = statusOfTag(tag)
  if (v2) {
    const code = status === 404 ? "BLOB_UNKNOWN" : status >= 500 ? "UNKNOWN" : "UNSUPPORTED"
    return HttpServerResponse.jsonUnsafe({ errors: [{ code, message, detail: { tag } }] }, { status })
  }
  return HttpServerResponse.jsonUnsafe({ error: { code: tag, message } }, { status })
}

/** Why serving `host` is refused, or undefined: without a token only loopback addresses are served. */
export const refuseListen = (host: string, tokenRequired: boolean): string | undefined =>
  tokenRequired || isLoopbackAddress(host)
    ? undefined
    : `refusing to serve ${host} without a token: anyone who can reach it could read and write the store; give --token-file (or CAIRN_API_TOKEN), or listen on 127.0.0.1`

export const BLOB_TYPES = new Set(["application/octet-stream"])

export const unsupportedType = (req: IncomingMessage, wanted: string) =>
  new ApiError({
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
    reason: `${req.method} ${(req.url ?? "").split("?")[0]} wants ${wanted}, not ${req.headers["content-type"] ?? "a body without Content-Type"}`
  })

/**
 * A response whose body is a Node stream. The stream is hashed and compared by identity: when a
 * client goes away mid-body, effect puts the response into the interruption's cause and hashes
 * it, and a structural walk of a Node stream reaches Node's ServerResponse (DEP0066 warning).
 */
export const rawResponse = (body: NodeJS.ReadableStream, options: Parameters<typeof HttpServerResponse.raw>[1]): HttpServerResponse.HttpServerResponse => {
  if (!(Hash.symbol in body)) {
    Object.defineProperties(body, {
      [Hash.symbol]: { value: (): number => Hash.random(body) },
      [Equal.symbol]: { value: (that: unknown): boolean => that === body }
    })
  }
  return HttpServerResponse.raw(body, options)
}
