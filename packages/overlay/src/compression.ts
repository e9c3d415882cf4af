import { Readable, Transform, type TransformCallback } from "node:stream"
import * as zlib from "node:zlib"
import { Decompress as FzstdDecompress } from "fzstd"
import { DecompressionError } from "./errors.js"

/** Layer compressions cairn reads (image-spec media-types.md: tar, tar+gzip, tar+zstd). */
export type Compression = "gzip" | "zstd" | "none"

/** Which zstd decoder to use: node:zlib's where it exists (Node >= 22.15), else fzstd. */
export type ZstdDecoder = "auto" | "native" | "fzstd"

export interface DecompressOptions {
  zstd?: ZstdDecoder
}

/** Output chunk size for zlib: large chunks mean fewer writes and hash calls downstream. */
const CHUNK = 256 * 1024

type ZstdFactory = (opts?: { chunkSize?: number }) => Transform
const nativeZstd = (zlib as unknown as { createZstdDecompress?: ZstdFactory }).createZstdDecompress

/** Whether this Node has a native zstd decoder (node:zlib createZstdDecompress). */
export const nativeZstdAvailable = typeof nativeZstd === "function"

/** Detect the compression by magic bytes (RFC 1952: 1f 8b; RFC 8878: 28 b5 2f fd); anything else is a plain tar. */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip"
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd"
  return "none"
}

/** fzstd's streaming decoder as a Node Transform (used where node:zlib has no zstd). */
class FzstdTransform extends Transform {
  private readonly d = new FzstdDecompress((chunk) => {
    if (chunk.length > 0) this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
  })
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
    try {
      this.d.push(chunk)
      cb()
    } catch (e) {
      cb(e as Error)
    }
  }
  override _flush(cb: TransformCallback) {
    try {
      this.d.push(new Uint8Array(0), true)
      cb()
    } catch (e) {
      cb(e as Error)
    }
  }
}

/** A streaming decompressor for `kind` (a pass-through for "none"). */
export function createDecompressor(kind: Compression, options: DecompressOptions = {}): Transform {
  if (kind === "gzip") return zlib.createGunzip({ chunkSize: CHUNK })
  if (kind === "zstd") {
    const which = options.zstd ?? "auto"
    if (which === "native" && !nativeZstdAvailable) throw new DecompressionError({ compression: "zstd", reason: "node:zlib has no zstd decoder on this Node version (needs >= 22.15); use zstd: \"fzstd\" or \"auto\"" })
    if (which !== "fzstd" && nativeZstd) return nativeZstd({ chunkSize: CHUNK })
    return new FzstdTransform()
  }
  return new Transform({ transform: (c, _e, cb) => cb(null, c) })
}

/** Take bytes until at least `n` are seen (or EOF), then hand back the head and a source that replays it. */
async function peek(source: AsyncIterable<Uint8Array>, n: number) {
  const it = source[Symbol.asyncIterator]()
  const head: Uint8Array[] = []
  let len = 0
  let ended = false
  while (len < n) {
    const r = await it.next()
    if (r.done) {
      ended = true
      break
    }
    head.push(r.value)
    len += r.value.byteLength
  }
  const headBytes = Buffer.concat(head)
  async function* replay() {
    try {
      if (headBytes.length > 0) yield headBytes
      if (ended) return
      for (;;) {
        const r = await it.next()
        if (r.done) return
        yield r.value
      }
    } finally {
      if (!ended) await it.return?.()
    }
  }
  return { head: headBytes, source: replay() }
}

/** The compression of a stream by its first bytes, and the stream again from its first byte. */
export async function sniffCompression(source: AsyncIterable<Uint8Array>): Promise<{ compression: Compression; source: AsyncIterable<Uint8Array> }> {
  const { head, source: replay } = await peek(source, 4)
  return { compression: detectCompression(head), source: replay }
}

/**
 * Detects the compression of `source` and returns its decompressed bytes, streaming.
 * Decoder failures (corrupt or truncated input) surface as DecompressionError while iterating.
 */
export async function decompress(
  source: AsyncIterable<Uint8Array>,
  options: DecompressOptions = {}
): Promise<{ compression: Compression; data: AsyncIterable<Buffer> }> {
  const { compression, source: replay } = await sniffCompression(source)
  if (compression === "none") return { compression, data: replay as AsyncIterable<Buffer> }
  const decoder = createDecompressor(compression, options)
  const input = Readable.from(replay, { objectMode: false, highWaterMark: CHUNK })
  input.on("error", (e) => decoder.destroy(e))
  input.pipe(decoder)
  async function* out(): AsyncGenerator<Buffer> {
    try {
      for await (const c of decoder) yield c as Buffer
    } catch (e) {
      // Errors of the source itself pass through; anything else is the decoder rejecting the bytes.
      if (input.errored !== null && input.errored === e) throw e
      throw new DecompressionError({ compression, reason: (e as Error).message })
    } finally {
      input.destroy()
    }
  }
  return { compression, data: out() }
}
