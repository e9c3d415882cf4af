// Extract one layer file N times with cairn's applyLayer and print MB/s of uncompressed tar.
// usage: node bench/extract.mjs [layer.tar[.gz|.zst]] [runs=5] [--node-hash] [--off-thread] [--fzstd]
// Without a layer file it makes a synthetic gzip layer (2,000 small files and a 64 MiB file).
// Needs a build (npm run build) — the benchmark imports dist/ like a consumer would.
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { nodeBackend, wasmBackend } from "@cairn/digest"
import { applyLayer } from "../dist/index.js"

const args = process.argv.slice(2)
let file = args.find((a) => !a.startsWith("--"))
let scratch
if (!file) {
  scratch = mkdtempSync(join(tmpdir(), "cairn-bench-layer-"))
  const src = join(scratch, "src")
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(src, `d${d}`), { recursive: true })
    for (let f = 0; f < 100; f++) writeFileSync(join(src, `d${d}`, `f${f}`), randomBytes(200 + ((d * 100 + f) % 3000)))
  }
  writeFileSync(join(src, "large.bin"), Buffer.concat([randomBytes(32 << 20), Buffer.alloc(32 << 20, 1)]))
  file = join(scratch, "layer.tar.gz")
  execFileSync("tar", ["-C", src, "-czf", file, "."])
  rmSync(src, { recursive: true, force: true })
}
const runs = Number(args.filter((a) => !a.startsWith("--"))[1] ?? 5)
const hasher = args.includes("--node-hash") ? nodeBackend : wasmBackend
const times = []
let tarSize = 0
let peakRss = 0
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-"))
  try {
    const t0 = process.hrtime.bigint()
    const r = await applyLayer(file, dir, {
      computeDigest: true,
      hasher,
      hashOffThread: args.includes("--off-thread"),
      ...(args.includes("--fzstd") ? { zstd: "fzstd" } : {})
    })
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    times.push(s)
    tarSize = r.tarSize
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
    console.log(`run ${i + 1}: ${s.toFixed(3)} s, ${(r.tarSize / 1e6 / s).toFixed(1)} MB/s, ${r.entries} entries, ${r.compression}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
times.sort((a, b) => a - b)
const median = times[Math.floor(times.length / 2)]
console.log(
  JSON.stringify({ file, runs, hasher: hasher.name, offThread: args.includes("--off-thread"), tarMB: +(tarSize / 1e6).toFixed(1), medianSeconds: +median.toFixed(3), medianMBps: +(tarSize / 1e6 / median).toFixed(1), peakRssMB: Math.round(peakRss / 1e6) })
)
if (scratch) rmSync(scratch, { recursive: true, force: true })
