// put() of a large blob against the digest core's own throughput, and peak RSS.
// Usage: npm run bench (builds first); CAIRN_BENCH_MB=1024 sets the blob size.
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createHasher } from "@cairn/digest"
import { Store } from "../dist/index.js"

const MB = Number(process.env.CAIRN_BENCH_MB ?? 1024)
// a 4 MiB random pool served as 1 MiB views: chunks are never modified once yielded (the
// stream contract put() relies on, since a write may still be in flight)
const pool = randomBytes(4 << 20)
const mbps = (bytes, ms) => (bytes / (1 << 20) / (ms / 1000)).toFixed(0)

async function* source() {
  for (let i = 0; i < MB; i++) yield pool.subarray((i % 4) << 20, ((i % 4) + 1) << 20)
}

async function hashOnly() {
  const h = await createHasher("sha256")
  const t = performance.now()
  for await (const c of source()) h.update(c)
  h.digest()
  return performance.now() - t
}

async function putOnce(store) {
  const t = performance.now()
  const r = await store.put(source())
  const ms = performance.now() - t
  await store.delete(r.digest)
  return ms
}

const baselineRss = process.resourceUsage().maxRSS / 1024 // node + effect + this package loaded
const dir = mkdtempSync(join(process.env.CAIRN_BENCH_DIR ?? tmpdir(), "cairn-bench-"))
try {
  const store = await Store.open(dir)
  const bytes = MB << 20
  let bestHash = Number.POSITIVE_INFINITY
  let bestPut = Number.POSITIVE_INFINITY
  // alternate runs so both see the same machine load; keep the best of each
  for (let i = 0; i < 3; i++) {
    bestHash = Math.min(bestHash, await hashOnly())
    bestPut = Math.min(bestPut, await putOnce(store))
  }
  const rssMb = process.resourceUsage().maxRSS / 1024
  console.log(`blob size              ${MB} MiB`)
  console.log(`digest core (wasm)     ${mbps(bytes, bestHash)} MiB/s`)
  console.log(`put (hash+write+fsync) ${mbps(bytes, bestPut)} MiB/s`)
  console.log(`put / core             ${((bestHash / bestPut) * 100).toFixed(0)}%   (target >= 90%)`)
  console.log(`peak RSS               ${rssMb.toFixed(0)} MB   (target < 100 MB; ${baselineRss.toFixed(0)} MB before the first put)`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
