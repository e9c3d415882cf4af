// "What bounds the figure": one cairn extract of the large layer under `node --cpu-prof`,
// self time per function summed from the samples and put in buckets (decompression,
// hashing, tar parsing, filesystem, stream plumbing, GC, idle = main thread waiting on the
// libuv threadpool where node:zlib inflates and fs writes run).
import { execFile } from "node:child_process"
import { mkdir, readdir, readFile, rm } from "node:fs/promises"
import { basename, join } from "node:path"
import { promisify } from "node:util"

const exec = promisify(execFile)

const FS_BINDINGS = new Set(
  "writeBuffer writeBuffers writeString read readBuffers open openFileHandle close fsync fdatasync mkdir symlink link chown lchown fchown chmod fchmod lchmod utimes futimes lutimes rename unlink rmdir lstat stat fstat readlink readdir ftruncate copyFile realpath access existsSync".split(" ")
)

/** @param {{ functionName: string, url: string }} f */
export function bucketOf(f) {
  const { functionName: fn, url } = f
  if (fn === "(idle)") return "idle (waiting on threadpool: zlib inflate, fs I/O)"
  if (fn === "(garbage collector)") return "GC"
  if (fn === "(program)" || fn === "(root)") return "V8/native (program)"
  // native bindings have no url: fs bindings called synchronously on the main thread are syscalls
  if (url === "" && FS_BINDINGS.has(fn)) return "filesystem (native fs bindings: sync calls block here)"
  if (fn === "runMicrotasks" || fn === "processTicksAndRejections") return "event loop / promises"
  if (url.includes("internal/modules") || /^compile(SourceTextModule|Function)/.test(fn)) return "module loading (start-up)"
  if (url.startsWith("wasm://") || url.includes("hash-wasm") || url.includes("/digest/")) return "hashing"
  if (url.includes("zlib") || /inflate|gunzip|zstd|decompress/i.test(fn + url)) return "decompression"
  if (url.includes("/overlay/") && url.includes("/tar/")) return "tar parsing"
  if (url.includes("node:fs") || url.includes("internal/fs")) return "filesystem (JS side)"
  if (url.includes("/overlay/")) return "apply logic (overlay)"
  if (url.includes("internal/streams") || url.includes("node:stream") || url.includes("events")) return "stream plumbing"
  if (url.includes("effect")) return "effect runtime"
  if (fn === "" && url === "") return "native (anonymous)"
  return "other JS"
}

/**
 * @param {{ nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number } }>, samples: number[], timeDeltas: number[] }} prof
 */
export function summarize(prof) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  /** @type {Map<string, { name: string, bucket: string, us: number }>} */
  const fns = new Map()
  let total = 0
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0
    total += dt
    const n = byId.get(id)
    if (!n) return
    const cf = n.callFrame
    const where = cf.url ? `${basename(cf.url)}:${cf.lineNumber + 1}` : ""
    const name = `${cf.functionName || "(anonymous)"}${where ? ` ${where}` : ""}`
    const e = fns.get(name) ?? { name, bucket: bucketOf(cf), us: 0 }
    e.us += dt
    fns.set(name, e)
  })
  /** @type {Record<string, number>} */
  const buckets = {}
  for (const e of fns.values()) buckets[e.bucket] = (buckets[e.bucket] ?? 0) + e.us
  const top = [...fns.values()].sort((a, b) => b.us - a.us).slice(0, 15)
  return {
    totalMs: total / 1000,
    buckets: Object.entries(buckets)
      .sort((a, b) => b[1] - a[1])
      .map(([bucket, us]) => ({ bucket, ms: us / 1000, share: us / total })),
    top: top.map((e) => ({ name: e.name, bucket: e.bucket, ms: e.us / 1000, share: e.us / total }))
  }
}

/** @param {{ worker: string, scratch: string, corpus: string, layers: Array<{ path: string, digest: string, diffId: string }>, bytes: number, nodeFlags?: string[] }} o */
export async function profileExtract({ worker, scratch, corpus, layers, bytes, nodeFlags = [] }) {
  const dir = join(scratch, "profile")
  const target = join(scratch, "profile-target")
  await mkdir(dir, { recursive: true })
  const task = { kind: "extract", hasher: "wasm", target, layers }
  // under the node flags cairn's other contenders run with (the launcher's)
  const args = [...nodeFlags, "--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", "500", worker, JSON.stringify(task)]
  const t0 = process.hrtime.bigint()
  const { stdout } = await exec("/usr/bin/time", ["-f", "%U %S", "-o", join(scratch, "profile-time.txt"), process.execPath, ...args], { maxBuffer: 1 << 24 })
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9
  const res = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}")
  if (!res.ok) throw new Error(res.error ?? "profiled run failed")
  const [userS, sysS] = (await readFile(join(scratch, "profile-time.txt"), "utf8")).trim().split("\n").at(-1).split(" ").map(Number)
  const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"))
  if (!file) throw new Error("node wrote no .cpuprofile")
  const summary = summarize(JSON.parse(await readFile(join(dir, file), "utf8")))
  await rm(dir, { recursive: true, force: true })
  await rm(target, { recursive: true, force: true })
  return { corpus, hasher: "wasm", wallS, userS, sysS, mbPerS: bytes / wallS / 1e6, workerTimings: res.layers?.[0]?.timings, ...summary }
}
