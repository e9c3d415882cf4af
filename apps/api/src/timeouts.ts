// Progress timeouts of one request: a body that stops arriving, and a streamed answer whose client
// stops reading, end after an idle period without a byte (never a wall limit on a transfer).
import type { IncomingMessage } from "node:http"
import type { HttpServerResponse } from "effect/http"
import { BodyStalledError } from "./errors.js"
import { hasBody } from "./policy.js"

// a body that stops arriving is aborted after bodyIdleTimeoutMs without a byte (progress, not a
// wall limit); once it has all arrived the socket may sit quiet while the handler works
export const watchRequestBody = (req: IncomingMessage, bodyIdleTimeoutMs: number): { done(): void } => {
  let answered = false
  if (bodyIdleTimeoutMs > 0 && hasBody(req) && !req.complete) {
    req.setTimeout(bodyIdleTimeoutMs, () => {
      if (!req.complete) req.destroy(new BodyStalledError({ idleMs: bodyIdleTimeoutMs }))
    })
    req.once("end", () => {
      if (!answered) req.socket?.setTimeout(0)
    })
  }
  return {
    done: () => {
      answered = true
    }
  }
}

// a streamed answer (blob, export) whose client stops reading holds its socket and file open:
// close it after the same idle period without progress. Not for /events, which may be quiet.
export const watchResponseBody = (req: IncomingMessage, res: HttpServerResponse.HttpServerResponse, bodyIdleTimeoutMs: number, log: (line: string) => void): void => {
  const socket = req.socket
  const body = res.body
  if (bodyIdleTimeoutMs <= 0 || !socket || body._tag !== "Raw") return
  if (/event-stream/.test(String(body.contentType ?? res.headers["content-type"] ?? ""))) return
  const stream = body.body as NodeJS.ReadableStream & { once(e: "close", f: () => void): unknown }
  const onTimeout = () => {
    log(`cairn-api: ${req.method} ${(req.url ?? "").split("?")[0]}: the client stopped reading the response (no progress for ${bodyIdleTimeoutMs} ms); connection closed`)
    socket.destroy()
  }
  socket.setTimeout(bodyIdleTimeoutMs)
  socket.once("timeout", onTimeout)
  stream.once("close", () => socket.off("timeout", onTimeout))
}
