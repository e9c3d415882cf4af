// One cairn contender run, in its own process so that its peak RSS is its own.
// Usage: node src/worker.mjs '<json task>'; prints one JSON line: { ok, ms, maxRssKB, ... }.
// Tasks: extract (flat apply of layers, verifying both digests), sha256, kernel, gunzip, fetch, receive, pull.
import { createReadStream } from "node:fs"
import { mkdir } from "node:fs/promises"
import { Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip } from "node:zlib"

const task = JSON.parse(process.argv[2] ?? "{}")
const started = process.hrtime.bigint()
/** when the modules are loaded and the work starts: workMs excludes Node start-up and imports */
let loaded = started
const devNull = () => new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() })

/** @param {string} name */
const backendOf = async (name) => {
  const digest = await import("@cairn/digest")
  return name === "node" ? digest.nodeBackend : digest.wasmBackend
}

/** @type {Record<string, () => Promise<Record<string, unknown>>>} */
const tasks = {
  // flat apply of every layer in order into one directory, verifying blob digest and diffID
  async extract() {
    // the Promise API alone, as an embedder that applies layers imports it (no effect/Effect)
    const { applyLayer } = await import("@cairn/overlay/apply")
    const hasher = await backendOf(task.hasher)
    await mkdir(task.target, { recursive: true })
    loaded = process.hrtime.bigint()
    const results = []
    for (const layer of task.layers) {
      // a path lets applyLayer pick its own reader; both digests are verified inside applyLayer
      const r = await applyLayer(layer.path, task.target, {
        hasher,
        expectedDigest: layer.digest,
        expectedDiffId: layer.diffId
      })
      // the figure counts only when cairn computed both digests and they are the expected ones
      if (r.diffId !== layer.diffId) throw new Error(`diffID ${r.diffId} != expected ${layer.diffId}`)
      if (r.digest !== layer.digest) throw new Error(`digest ${r.digest} != expected ${layer.digest}`)
      results.push({ diffId: r.diffId, digest: r.digest, ...(r.timings ? { timings: r.timings } : {}) })
    }
    // the in-pipeline hash rate, measured where it happens: the diffID chain's hash worker, its
    // bytes over its thread's CPU time from start to digest (plumbing included)
    const stats = (await import("@cairn/digest")).offThreadHashStats()
    const direct = hasher.name === "wasm" && stats.hashers > 0 && stats.cpuSeconds ? { metrics: { diffIdMBps: stats.mbPerSec } } : {}
    return { layers: results, ...direct }
  },
  async sha256() {
    const { createHasher } = await import("@cairn/digest")
    const h = await createHasher("sha256", await backendOf(task.hasher))
    loaded = process.hrtime.bigint()
    for await (const chunk of createReadStream(task.path, { highWaterMark: 1 << 20 })) h.update(chunk)
    const digest = h.digest()
    if (digest !== task.expected) throw new Error(`sha256 ${digest} != expected ${task.expected}`)
    return { digest }
  },
  // the hash kernel alone, in a fresh process: `mib` MiB of in-memory bytes in 1 MiB updates
  // through one exported HasherBackend of @cairn/digest. Reports the first MiB's rate (a kernel
  // left on V8's baseline tier shows there and stays slow) and the whole run's MB per CPU second
  // (this thread is the only busy one). The tier check itself is done by the scoreboard over
  // every process of the run. HOOK: when @cairn/digest exposes its own kernel measurement or tier
  // report (see /work/notes/wasm-kernel-api.md), return it here as `metrics.*` as well.
  async kernel() {
    const digest = await import("@cairn/digest")
    const backend = digest[task.backend]
    if (!backend || typeof backend.create !== "function") throw new Error(`@cairn/digest exports no HasherBackend ${task.backend}`)
    const { randomFillSync } = await import("node:crypto")
    const buf = randomFillSync(Buffer.allocUnsafe(1 << 20))
    const h = await digest.createHasher("sha256", backend)
    loaded = process.hrtime.bigint()
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    h.update(buf)
    const firstS = Number(process.hrtime.bigint() - t0) / 1e9
    for (let i = 1; i < task.mib; i++) h.update(buf)
    h.digest()
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9
    const c = process.cpuUsage(cpu0)
    const cpuS = (c.user + c.system) / 1e6
    const bytes = task.mib * (1 << 20)
    return { metrics: { firstMiBMBps: (1 << 20) / firstS / 1e6, mbPerCpuS: bytes / cpuS / 1e6, mbPerS: bytes / wallS / 1e6 }, backend: backend.name }
  },
  // the decompression floor: node:zlib alone, bytes thrown away
  async gunzip() {
    await pipeline(createReadStream(task.path, { highWaterMark: 1 << 20 }), createGunzip({ chunkSize: 1 << 20 }), devNull())
    return {}
  },
  // download only, into an engine root's store (the engine's fetch path)
  async fetch() {
    const { fetchIntoEngine, loadPull } = await import("./pull.mjs")
    await loadPull()
    loaded = process.hrtime.bigint()
    return await fetchIntoEngine(task)
  },
  // the receive floor of a pull: every layer blob GET at once as cairn's registry client makes it
  // (bulkGet: a connection per blob read into pooled slabs, each chunk given back as counted),
  // bytes counted and dropped (no hashing, no writes); the sizes must match
  async receive() {
    const { Transport } = await import("@cairn/registry")
    const { giveBack } = await import("@cairn/digest")
    loaded = process.hrtime.bigint()
    const transport = new Transport()
    try {
      const sizes = await Promise.all(
        task.blobs.map(async (/** @type {{ digest: string, size: number }} */ b) => {
          const res = await transport.request({ method: "GET", url: `http://${task.host}/v2/${task.repository}/blobs/${b.digest}`, expectBytes: b.size, lend: true })
          if (res.status !== 200) throw new Error(`GET ${b.digest}: HTTP ${res.status}`)
          let n = 0
          for await (const c of res.body) {
            n += c.length
            giveBack(c)
          }
          if (n !== b.size) throw new Error(`${b.digest}: ${n} bytes, expected ${b.size}`)
          return n
        })
      )
      return { bytes: sizes.reduce((a, b) => a + b, 0) }
    } finally {
      transport.close()
    }
  },
  // Engine.pull: download + every layer extracted into its snapshot as it downloads
  async pull() {
    const { pullIntoEngine, loadPull } = await import("./pull.mjs")
    await loadPull()
    loaded = process.hrtime.bigint()
    return await pullIntoEngine(task)
  }
}

try {
  const fn = tasks[task.kind]
  if (!fn) throw new Error(`unknown task ${task.kind}`)
  const extra = await fn()
  const end = process.hrtime.bigint()
  const ms = Number(end - started) / 1e6
  const workMs = Number(end - loaded) / 1e6
  process.stdout.write(`${JSON.stringify({ ok: true, ms, workMs, maxRssKB: process.resourceUsage().maxRSS, ...extra })}\n`)
} catch (e) {
  const err = /** @type {Error & { _tag?: string }} */ (e)
  process.stdout.write(`${JSON.stringify({ ok: false, error: `${err._tag ?? err.name}: ${err.message}` })}\n`)
  process.exitCode = 1
}
