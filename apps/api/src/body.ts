// Request bodies as plain Node streams with a byte limit checked while they stream in (and up
// front from Content-Length), so an oversized body is refused without being buffered.
import type { IncomingMessage } from "node:http"
import { BodyTooLargeError } from "./errors.js"

/** The declared Content-Length, or undefined when absent (chunked) or malformed. */
export const contentLength = (req: IncomingMessage): number | undefined => {
  const v = req.headers["content-length"]
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  return Number(v)
}

/** The body's chunks, failing with BodyTooLargeError as soon as more than `limit` bytes arrive. */
export async function* limitedBody(req: IncomingMessage, limit: number): AsyncGenerator<Uint8Array> {
  const declared = contentLength(req)
  if (declared !== undefined && declared > limit) throw new BodyTooLargeError({ limit, received: declared })
  let n = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length
    if (n > limit) {
      req.destroy()
      throw new BodyTooLargeError({ limit, received: n })
    }
    yield chunk
  }
}

/** The whole body in memory (JSON documents and manifests only), at most `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of limitedBody(req, limit)) parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength))
  return Buffer.concat(parts)
}
