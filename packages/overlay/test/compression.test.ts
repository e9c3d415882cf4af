import { randomBytes } from "node:crypto"
import { execFileSync } from "node:child_process"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { DecompressionError, decompress, detectCompression, nativeZstdAvailable } from "../src/index.js"
import { chunked } from "./rawtar.js"

const zstdCompress = (data: Buffer) => execFileSync("zstd", ["-q", "-c", "-3"], { input: data, maxBuffer: 1 << 28 })
const drain = async (it: AsyncIterable<Buffer>) => {
  const parts: Buffer[] = []
  for await (const c of it) parts.push(c)
  return Buffer.concat(parts)
}
// Compressible but not trivial: repeated random blocks.
const payload = Buffer.concat(Array.from({ length: 64 }, (_, i) => (i % 3 === 0 ? randomBytes(8192) : Buffer.alloc(8192, i))))

describe("compression", () => {
  it("detects gzip, zstd and plain by magic bytes", () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe("gzip")
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe("zstd")
    expect(detectCompression(Buffer.from("ustar"))).toBe("none")
    expect(detectCompression(Buffer.alloc(0))).toBe("none")
  })

  it("decompresses gzip streaming, in odd chunk sizes", async () => {
    const { compression, data } = await decompress(chunked(gzipSync(payload), 997))
    expect(compression).toBe("gzip")
    expect((await drain(data)).equals(payload)).toBe(true)
  })

  it("passes plain data through unchanged", async () => {
    const { compression, data } = await decompress(chunked(payload, 501))
    expect(compression).toBe("none")
    expect((await drain(data)).equals(payload)).toBe(true)
  })

  it("decompresses zstd with the fzstd fallback", async () => {
    const { compression, data } = await decompress(chunked(zstdCompress(payload), 1000), { zstd: "fzstd" })
    expect(compression).toBe("zstd")
    expect((await drain(data)).equals(payload)).toBe(true)
  })

  it.skipIf(!nativeZstdAvailable)("decompresses zstd with node:zlib's native decoder", async () => {
    const { data } = await decompress(chunked(zstdCompress(payload), 1000), { zstd: "native" })
    expect((await drain(data)).equals(payload)).toBe(true)
  })
  if (!nativeZstdAvailable) console.warn(`node ${process.version} has no zlib.createZstdDecompress: native zstd test skipped`)

  it("fails with DecompressionError on truncated gzip and zstd", async () => {
    const gz = gzipSync(payload)
    const e1 = await decompress(chunked(gz.subarray(0, gz.length - 100))).then((r) => drain(r.data)).catch((e) => e)
    expect(e1).toBeInstanceOf(DecompressionError)
    const zs = zstdCompress(payload)
    for (const zstd of ["fzstd", ...(nativeZstdAvailable ? ["native" as const] : [])] as const) {
      const e2 = await decompress(chunked(zs.subarray(0, zs.length - 50)), { zstd }).then((r) => drain(r.data)).catch((e) => e)
      expect(e2).toBeInstanceOf(DecompressionError)
    }
  })

  it("fails with DecompressionError on corrupt gzip", async () => {
    const gz = Buffer.from(gzipSync(payload))
    gz.fill(0x55, 100, 200)
    const e = await decompress(chunked(gz)).then((r) => drain(r.data)).catch((err) => err)
    expect(e).toBeInstanceOf(DecompressionError)
  })

  it("passes source errors through as they are", async () => {
    async function* failing() {
      yield gzipSync(payload).subarray(0, 1000)
      throw new Error("network down")
    }
    const e = await decompress(failing()).then((r) => drain(r.data)).catch((err) => err)
    expect(e.message).toBe("network down")
  })
})
