// In-pipeline vs kernel-alone sha256 rate, in one fresh process (after a build):
//   1. OffThreadHasher fed `--mib` MiB in 64 KiB chunks (gunzip's size), and, with --layer FILE,
//      @cairn/overlay's applyLayer of that gzip layer (both digests on workers), then
//   2. measureKernel on this thread.
// Reports offThreadHashStats (worker time inside the kernel per byte; the workers' whole thread
// CPU on Node >= 23.9) over the kernel-alone rate. Usage: node bench/pipeline-rate.mjs [--mib N] [--layer F]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { measureKernel, OffThreadHasher, offThreadHashStats, resetOffThreadHashStats } from "../dist/index.js"

const { values } = parseArgs({ options: { mib: { type: "string", default: "512" }, layer: { type: "string" }, chunk: { type: "string", default: "65536" } } })
const chunk = new Uint8Array(Number(values.chunk)).map((_, i) => (i * 2654435761) >>> 24)
const fmt = (s) =>
  `${(s.bytes / 1e6).toFixed(0)} MB on ${s.hashers} worker(s): ${s.mbPerSec.toFixed(0)} MB/s of worker thread CPU` +
  ` (${(s.bytes / 1e6 / s.busySeconds).toFixed(0)} MB/s of wall time inside the kernel)`
const kernel = () => measureKernel({ bytes: 256 << 20 })
const out = {}
resetOffThreadHashStats()
const h = await OffThreadHasher.start("sha256")
const total = Number(values.mib) << 20
for (let at = 0; at < total; at += chunk.length) await h.update(chunk)
await h.digest()
await h.close()
out.ring = offThreadHashStats()
if (values.layer) {
  const { applyLayer } = await import("@cairn/overlay")
  const dir = mkdtempSync(join(tmpdir(), "pipeline-rate-"))
  try {
    resetOffThreadHashStats()
    await applyLayer(values.layer, join(dir, "t"), { computeDigest: true, hashOffThread: true })
    out.layer = offThreadHashStats()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
const k = await kernel()
console.log(`kernel alone: ${k.mbPerSec.toFixed(0)} MB/s of CPU (${process.version})`)
for (const [name, s] of Object.entries(out)) {
  console.log(`${name}: ${fmt(s)}; ratio to the kernel alone ${(s.mbPerSec / k.mbPerSec).toFixed(2)}`)
}
