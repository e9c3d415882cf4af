// Throughput of the digest core over >= 1 GiB per figure, best of --runs, all in one run:
//   raw hash-wasm on one buffer-stream, cairn's WASM Hasher, cairn's verifying stream in a real
//   pipeline (the plumbing the store and extractor use), and node:crypto.
// Usage: node bench/hash-throughput.mjs [--gib N] [--runs N] [--json FILE]
import { createHash } from "node:crypto"
import { writeFileSync } from "node:fs"
import { Readable, Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { parseArgs } from "node:util"
import { createSHA256 } from "hash-wasm"
import { createHasher, nodeBackend, verifyingStream, wasmBackend } from "../dist/index.js"

const { values } = parseArgs({
  options: { gib: { type: "string", default: "1" }, runs: { type: "string", default: "3" }, json: { type: "string" } }
})
const total = Math.round(Number(values.gib) * 1024 ** 3)
const runs = Number(values.runs)
const block = Buffer.alloc(64 << 20)
for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i)

function* chunks(size) {
  for (let at = 0; at < total; at += size) {
    const n = Math.min(size, total - at)
    const off = at % block.length
    yield off + n <= block.length ? block.subarray(off, off + n) : block.subarray(0, n)
  }
}
async function best(fn) {
  let t = Number.POSITIVE_INFINITY
  for (let i = 0; i < runs; i++) {
    const s = process.hrtime.bigint()
    await fn()
    t = Math.min(t, Number(process.hrtime.bigint() - s) / 1e9)
  }
  return total / 1e6 / t
}
const sink = () => new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() })
const expectedFor = (size) => {
  const h = createHash("sha256")
  for (const c of chunks(size)) h.update(c)
  return `sha256:${h.digest("hex")}`
}

const rows = []
for (const [label, size] of [["64 KiB", 64 << 10], ["1 MiB", 1 << 20]]) {
  const expected = expectedFor(size)
  const raw = await best(async () => {
    const h = await createSHA256()
    h.init()
    for (const c of chunks(size)) h.update(c)
    h.digest("hex")
  })
  const hasher = await best(async () => {
    const h = await createHasher("sha256", wasmBackend)
    for (const c of chunks(size)) h.update(c)
    h.digest()
  })
  const streaming = await best(async () => {
    const v = await verifyingStream({ digest: expected, size: total, backend: wasmBackend })
    await pipeline(Readable.from(chunks(size)), v, sink())
  })
  const node = await best(async () => {
    const h = await createHasher("sha256", nodeBackend)
    for (const c of chunks(size)) h.update(c)
    h.digest()
  })
  rows.push({ chunk: label, rawWasm: raw, hasher, streamingWasm: streaming, nodeCrypto: node })
}

const f = (x) => x.toFixed(0).padStart(6)
console.log(`sha256 over ${(total / 1024 ** 3).toFixed(2)} GiB, best of ${runs}, MB/s (10^6 B/s); node ${process.version}`)
console.log("chunk   | raw hash-wasm | cairn Hasher | cairn verifying stream | node:crypto | stream/raw | stream/node")
for (const r of rows) {
  console.log(
    `${r.chunk.padEnd(7)} | ${f(r.rawWasm)}        | ${f(r.hasher)}       | ${f(r.streamingWasm)}                 | ${f(r.nodeCrypto)}      | ${(r.streamingWasm / r.rawWasm).toFixed(3)}      | ${(r.streamingWasm / r.nodeCrypto).toFixed(3)}`
  )
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ totalBytes: total, runs, node: process.version, rows }, null, 2)}\n`)
