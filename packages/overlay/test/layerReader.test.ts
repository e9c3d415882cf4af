// The layer-reader thread (src/layerReader.ts, worker/layer-reader.mjs): a big compressed layer
// file is read, hashed and decompressed on a thread of its own, its tar bytes handed over a ring.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { type Digest, digestBytes, hashWasmBackend, lend, nodeBackend } from "@cairn/digest"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { applyLayer, DecompressionError, LayerDigestMismatchError, nativeZstdAvailable } from "../src/index.js"
import { listTree, rowText } from "./listing.js"
import { chunked, type RawEntry, rawTar } from "./rawtar.js"

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-reader-"))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** Deterministic bytes (a xorshift stream): incompressible enough that gzip output is about the input's size. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = seed | 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

/**
 * ~30 MiB of tar: 1,500 files of 0..32 KiB in 30 directories and a few of several MiB, so the
 * 8 MiB ring turns several times with files, headers and padding straddling its end.
 */
function manyFiles(): Buffer {
  const entries: RawEntry[] = []
  for (let d = 0; d < 30; d++) entries.push({ name: `d${d}/`, type: "5", mode: 0o755, mtime: 1000 + d })
  for (let i = 0; i < 1500; i++) entries.push({ name: `d${i % 30}/f${i}`, body: bytes((i * 7919) % 32768, i + 1), mode: 0o644, mtime: 2000 + i })
  for (let i = 0; i < 3; i++) entries.push({ name: `big${i}`, body: bytes((3 << 20) + i * 4099, 100 + i), mode: 0o600, mtime: 3000 + i })
  entries.push({ name: "last", body: "the end", mtime: 4000 })
  return rawTar(entries)
}

const threads = () => readdirSync("/proc/self/task").length
const tree = (root: string) => listTree(root).map(rowText)

describe("the layer-reader thread", () => {
  it("reads, hashes and decompresses a big gzip layer file: the same tree and digests as on the calling thread", async () => {
    const tar = manyFiles()
    const gz = gzipSync(tar, { level: 1 })
    const f = join(dir, "layer.tar.gz")
    writeFileSync(f, gz)
    const want = { diffId: await digestBytes(tar), digest: await digestBytes(gz), compression: "gzip", size: gz.length, tarSize: tar.length, entries: 1534 }
    // hashOffThread: true takes a file through the reader thread whatever its size
    const progress: { reader: number[]; here: number[] } = { reader: [], here: [] }
    const onReader = await applyLayer(f, join(dir, "reader"), {
      hashOffThread: true,
      expectedDigest: want.digest,
      expectedDiffId: want.diffId,
      onBytes: (n) => progress.reader.push(n)
    })
    expect(onReader).toMatchObject(want)
    const here = await applyLayer(f, join(dir, "here"), { hashOffThread: false, computeDigest: true, onBytes: (n) => progress.here.push(n) })
    expect(here).toMatchObject(want)
    // progress: the blob bytes read, rising, at most once per MiB, ending at the blob's size
    for (const p of [progress.reader, progress.here]) {
      expect(p.at(-1)).toBe(gz.length)
      expect(p.length).toBeGreaterThan(5)
      expect(p.length).toBeLessThanOrEqual(Math.ceil(gz.length / (1 << 20)) + 1)
      for (let i = 1; i < p.length; i++) expect(p[i]!).toBeGreaterThan(p[i - 1]!)
    }
    const a = tree(join(dir, "reader"))
    expect(a.length).toBe(1534)
    expect(a).toEqual(tree(join(dir, "here")))
  })

  it("keeps a metadata entry that spans many chunks of the ring intact while the ring moves on", async () => {
    // a 3 MiB PAX header (a comment, then the path) between two big files: the tar reader gathers
    // it over a dozen ring chunks while the reader thread keeps filling the ring behind them
    const comment = bytes(3 << 20, 9).toString("base64")
    const after = bytes(6 << 20, 10)
    const tar = rawTar([
      { name: "before", body: bytes(6 << 20, 11) },
      { name: "x", body: after, pax: [["comment", comment], ["path", "named/by/the/pax/header"]] },
      { name: "last", body: "l" }
    ])
    const f = join(dir, "pax.tar.gz")
    writeFileSync(f, gzipSync(tar, { level: 1 }))
    for (let i = 0; i < 3; i++) {
      const r = await applyLayer(f, join(dir, `t${i}`), { hashOffThread: true, expectedDiffId: await digestBytes(tar) })
      expect(r.entries).toBe(3)
      expect(readFileSync(join(dir, `t${i}`, "named/by/the/pax/header")).equals(after)).toBe(true)
    }
  })

  it("hashes the blob with each backend and algorithm on the reader thread, and the diffID beside it", async () => {
    const tar = rawTar([{ name: "a", body: bytes(5 << 20, 7) }, { name: "b", body: "b" }])
    const gz = gzipSync(tar, { level: 1 })
    const f = join(dir, "layer.tar.gz")
    writeFileSync(f, gz)
    const sha256 = await digestBytes(gz)
    for (const hasher of [undefined, nodeBackend, hashWasmBackend]) {
      const r = await applyLayer(f, join(dir, `t-${hasher?.name ?? "default"}`), { hashOffThread: true, computeDigest: true, ...(hasher ? { hasher } : {}) })
      expect(r.digest, hasher?.name ?? "default").toBe(sha256)
      // the diffID: on a hash worker, or with node:crypto on the applying thread
      expect(r, hasher?.name ?? "default").toMatchObject({ diffId: await digestBytes(tar), tarSize: tar.length })
    }
    const tar512 = `sha512:${createHash("sha512").update(tar).digest("hex")}` as Digest
    const n512 = await applyLayer(f, join(dir, "n-512"), { hashOffThread: true, hasher: nodeBackend, expectedDiffId: tar512 })
    expect(n512.diffId).toBe(tar512)
    const sha512 = `sha512:${createHash("sha512").update(gz).digest("hex")}` as Digest
    const r512 = await applyLayer(f, join(dir, "t-512"), { hashOffThread: true, expectedDigest: sha512 })
    expect(r512.digest).toBe(sha512)
  })

  it("reports a wrong blob digest with the bytes it read", async () => {
    const tar = rawTar([{ name: "a", body: bytes(1 << 20, 3) }])
    const gz = gzipSync(tar)
    const f = join(dir, "layer.tar.gz")
    writeFileSync(f, gz)
    const wrong = "sha256:3333333333333333333333333333333333333333333333333333333333333333" as Digest
    const e = await applyLayer(f, join(dir, "t"), { hashOffThread: true, expectedDigest: wrong }).catch((x) => x)
    expect(e).toBeInstanceOf(LayerDigestMismatchError)
    expect(e).toMatchObject({ expected: wrong, actual: await digestBytes(gz), bytes: gz.length })
  })

  it("fails a truncated or corrupt gzip file with DecompressionError and leaves no thread behind", async () => {
    const tar = rawTar([{ name: "a", body: bytes(12 << 20, 5) }, { name: "b", body: "b" }])
    const gz = gzipSync(tar, { level: 1 })
    const before = threads()
    const truncated = join(dir, "truncated.tar.gz")
    writeFileSync(truncated, gz.subarray(0, gz.length - 4096))
    const e1 = await applyLayer(truncated, join(dir, "t1"), { hashOffThread: true, computeDigest: true }).catch((x) => x)
    expect(e1).toBeInstanceOf(DecompressionError)
    expect(e1.message).toMatch(/gzip/)
    const corrupt = Buffer.from(gz)
    corrupt.fill(0x55, 1 << 20, (1 << 20) + 64)
    const bad = join(dir, "corrupt.tar.gz")
    writeFileSync(bad, corrupt)
    const e2 = await applyLayer(bad, join(dir, "t2"), { hashOffThread: true }).catch((x) => x)
    expect(e2).toBeInstanceOf(DecompressionError)
    // every thread the applications started (reader, hasher, writers) was stopped before they failed
    expect(threads()).toBe(before)
  })

  it("takes a stream through its input ring: the same tree and digests, progress, and a failing stream's own error", async () => {
    const tar = manyFiles()
    const gz = gzipSync(tar, { level: 1 })
    const want = { diffId: await digestBytes(tar), digest: await digestBytes(gz), compression: "gzip", size: gz.length, tarSize: tar.length, entries: 1534 }
    const progress: number[] = []
    // 16 KiB chunks, as a download arrives: copied into the input ring, announced per MiB
    const r = await applyLayer(chunked(gz, 16384), join(dir, "stream"), { hashOffThread: true, computeDigest: true, onBytes: (n) => progress.push(n) })
    expect(r).toMatchObject(want)
    expect(progress.at(-1)).toBe(gz.length)
    const here = await applyLayer(chunked(gz, 16384), join(dir, "here"), { hashOffThread: false, computeDigest: true })
    expect(here).toMatchObject(want)
    expect(tree(join(dir, "stream"))).toEqual(tree(join(dir, "here")))

    const before = threads()
    // a stream that fails after 3 MiB: its error
    async function* failing() {
      yield* chunked(gz.subarray(0, 3 << 20), 65536)
      throw Object.assign(new Error("connection reset by the registry"), { code: "ECONNRESET" })
    }
    const e = await applyLayer(failing(), join(dir, "failing"), { hashOffThread: true, computeDigest: true }).catch((x) => x)
    // as it is between entries; inside a file's body the applier names the entry it was writing
    expect(e.message).toContain("connection reset by the registry")
    if (e.code === undefined) expect(e).toMatchObject({ _tag: "ApplyEntryError", reason: "connection reset by the registry" })
    else expect(e.code).toBe("ECONNRESET")
    // a stream cut short: the decompressor's typed error
    const cut = await applyLayer(chunked(gz.subarray(0, gz.length - 1000), 65536), join(dir, "cut"), { hashOffThread: true }).catch((x) => x)
    expect(cut).toBeInstanceOf(DecompressionError)
    expect(threads()).toBe(before)
  })

  it("gives a lent chunk of a stream back once it is copied into the input ring, never before", async () => {
    // a bulk download's chunks are lent (@cairn/digest lend): given back, their memory is read
    // into again at once. Here a given-back chunk is scribbled over, as its next read would.
    const tar = manyFiles()
    const gz = gzipSync(tar, { level: 1 })
    let out = 0
    let lentCount = 0
    async function* lentPieces() {
      for await (const c of chunked(gz, 100_000)) {
        const piece = Buffer.from(c)
        out++
        lentCount++
        yield lend(piece, () => {
          out--
          piece.fill(0)
        })
      }
    }
    const r = await applyLayer(lentPieces(), join(dir, "lent"), { hashOffThread: true, computeDigest: true })
    expect(r).toMatchObject({ diffId: await digestBytes(tar), digest: await digestBytes(gz), size: gz.length })
    // the first piece is joined into the sniffed head (a copy) and never given back; every other one is
    expect(lentCount).toBeGreaterThan(100)
    expect(out).toBe(1)
  })

  it("decompresses as the calling thread does: several gzip members, bytes after the last one, a corrupt download", async () => {
    const tar = manyFiles()
    const half = 12345 * 512
    // a gzip of two members (gzip -c a b > ab.gz): one stream of tar bytes
    const members = Buffer.concat([gzipSync(tar.subarray(0, half), { level: 1 }), gzipSync(tar.subarray(half), { level: 1 })])
    // a tail after the last member: zeros, then bytes that are not a gzip header
    const tails = [Buffer.alloc(4096), Buffer.from("not a gzip member at all")]
    for (const [i, blob] of [members, Buffer.concat([members, tails[0]!]), Buffer.concat([members, tails[1]!])].entries()) {
      const f = join(dir, `m${i}.tar.gz`)
      writeFileSync(f, blob)
      const outcome = async (hashOffThread: boolean, where: string) => {
        const r = await applyLayer(f, join(dir, where), { hashOffThread, computeDigest: true }).catch((e) => e as Error)
        return r instanceof Error ? { error: r.constructor.name } : { diffId: r.diffId, digest: r.digest, tarSize: r.tarSize, tree: tree(join(dir, where)) }
      }
      const onReader = await outcome(true, `r${i}`)
      expect(onReader).toEqual(await outcome(false, `h${i}`))
      if (i === 0) expect(onReader).toMatchObject({ diffId: await digestBytes(tar), tarSize: tar.length })
    }
    // downloads gone bad, with no thread left behind: a wrong CRC in the gzip trailer (found once
    // every tar byte is out) is the decompressor's typed error; bytes garbled mid-stream fail as
    // they do on the calling thread (here the garbage reaches the tar reader first)
    const before = threads()
    const gz = gzipSync(tar, { level: 1 })
    const badCrc = Buffer.from(gz)
    badCrc[badCrc.length - 8]! ^= 0xff
    const e = await applyLayer(chunked(badCrc, 65536), join(dir, "crc"), { hashOffThread: true, computeDigest: true }).catch((x) => x)
    expect(e).toBeInstanceOf(DecompressionError)
    expect(e.message).toMatch(/check/)
    const garbled = Buffer.from(gz)
    garbled.fill(0x55, 2 << 20, (2 << 20) + 64)
    const onReader = await applyLayer(chunked(garbled, 65536), join(dir, "g1"), { hashOffThread: true }).catch((x) => x)
    const here = await applyLayer(chunked(garbled, 65536), join(dir, "g2"), { hashOffThread: false }).catch((x) => x)
    expect(onReader).toBeInstanceOf(Error)
    expect(onReader.constructor).toBe(here.constructor)
    expect(threads()).toBe(before)
  })

  it("gives the same tree and digests through node:zlib's stream (CAIRN_STREAM_DECODER=1, the fallback where the decoder's handle is not there)", async () => {
    const tar = manyFiles()
    const gz = gzipSync(tar, { level: 1 })
    const f = join(dir, "layer.tar.gz")
    writeFileSync(f, gz)
    const want = { diffId: await digestBytes(tar), digest: await digestBytes(gz), tarSize: tar.length, entries: 1534 }
    const direct = await applyLayer(f, join(dir, "direct"), { hashOffThread: true, computeDigest: true })
    // the reader thread reads the variable when it starts
    process.env.CAIRN_STREAM_DECODER = "1"
    try {
      const file = await applyLayer(f, join(dir, "stream"), { hashOffThread: true, computeDigest: true })
      const download = await applyLayer(chunked(gz, 65536), join(dir, "download"), { hashOffThread: true, computeDigest: true })
      const cut = await applyLayer(chunked(gz.subarray(0, gz.length - 1000), 65536), join(dir, "cut"), { hashOffThread: true }).catch((x) => x)
      for (const r of [direct, file, download]) expect(r).toMatchObject(want)
      expect(cut).toBeInstanceOf(DecompressionError)
    } finally {
      delete process.env.CAIRN_STREAM_DECODER
    }
    expect(tree(join(dir, "stream"))).toEqual(tree(join(dir, "direct")))
    expect(tree(join(dir, "download"))).toEqual(tree(join(dir, "direct")))
  })

  it.skipIf(!nativeZstdAvailable)("decompresses a zstd layer file with node:zlib's zstd on the reader thread", async () => {
    const tar = manyFiles()
    const f = join(dir, "layer.tar.zst")
    writeFileSync(f, execFileSync("zstd", ["-q", "-1", "-c"], { input: tar, maxBuffer: 1 << 28 }))
    const r = await applyLayer(f, join(dir, "z"), { hashOffThread: true, computeDigest: true })
    expect(r).toMatchObject({ compression: "zstd", diffId: await digestBytes(tar), tarSize: tar.length })
    const here = await applyLayer(chunked(tar, 65536), join(dir, "plain"))
    expect(tree(join(dir, "z"))).toEqual(tree(join(dir, "plain")))
    expect(here.diffId).toBe(r.diffId)
  })
})
