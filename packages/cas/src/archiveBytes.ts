// An archive's bytes as a plain tar: `docker load` takes a tar gzip-compressed as well, told by
// its first bytes (gzip's magic), not by a name. Read as they arrive; nothing is spooled.
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip } from "node:zlib"

/** Whether bytes start with gzip's magic (RFC 1952: 1f 8b). */
export const isGzip = (head: Uint8Array): boolean => head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b

/**
 * `input` as a plain tar stream, gunzipped on the way when it starts with gzip's magic (in
 * 256 KiB chunks: each becomes one write of a staged blob). A plain one is `input` itself, its
 * first bytes put back after the look; a failure of `input` or of the gunzip fails the stream returned.
 */
export async function plainArchive(input: Readable | AsyncIterable<Uint8Array>): Promise<Readable> {
  const { head, stream } = await peek(input instanceof Readable ? input : Readable.from(input), 2)
  if (!isGzip(head)) return stream
  const gunzip = createGunzip({ chunkSize: 1 << 18 })
  // a failure on either side destroys gunzip with it, which is what its reader sees
  pipeline(stream, gunzip).catch(() => {})
  return gunzip
}

/** The first `n` bytes of `stream` (fewer if it ends first), and a stream that still yields them. */
function peek(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let got = 0
    const cleanup = () => {
      stream.off("readable", onReadable)
      stream.off("end", onEnd)
      stream.off("error", onError)
      stream.off("close", onClose)
    }
    const onReadable = () => {
      for (let c: unknown; got < n && (c = stream.read()) !== null; ) {
        const b = Buffer.from(c as Uint8Array)
        chunks.push(b)
        got += b.length
      }
      if (got < n) return
      cleanup()
      const head = Buffer.concat(chunks)
      stream.unshift(head)
      resolve({ head, stream })
    }
    // it ended before n bytes: nothing can be put back into it, so what it held is a stream of its own
    const onEnd = () => {
      cleanup()
      const head = Buffer.concat(chunks)
      resolve({ head, stream: Readable.from(head.length > 0 ? [head] : [], { objectMode: false }) })
    }
    const onError = (e: unknown) => {
      cleanup()
      reject(e)
    }
    // destroyed without an error (a reader that gave up): as stream.pipeline reports it
    const onClose = () => {
      cleanup()
      reject(stream.errored ?? Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }))
    }
    // a stream that failed, or was destroyed, before the look began says so now, not never (its
    // error event, still to come, is reported by this rejection)
    if (stream.errored || stream.destroyed) stream.on("error", () => {})
    if (stream.errored) return reject(stream.errored)
    if (stream.destroyed) return onClose()
    if (stream.readableEnded) return onEnd()
    stream.on("readable", onReadable)
    stream.once("end", onEnd)
    stream.once("error", onError)
    stream.once("close", onClose)
  })
}
