// Mount + unmount latency by layer count, per driver: median of RUNS runs (after one warm-up).
// Usage: npm run bench [-- out.json]   (root for kernel/fuse; CAIRN_BENCH_RUNS, CAIRN_BENCH_DRIVERS)
// The copy driver materializes every layer (seconds at 200 layers): it gets at most 3 runs.
// The kernel driver runs twice: as configured (mount(2) through the helper unless
// CAIRN_MOUNT_HELPER=0) and forced onto mount(8)/umount(8), the row "kernel via mount(8)".
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { cleanupStale, detect, mount } from "../dist/index.js"

const LAYERS = [1, 10, 100, 200]
const RUNS = Number(process.env.CAIRN_BENCH_RUNS ?? 15)
const out = process.argv[2]

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const round = (x) => Math.round(x * 100) / 100

const report = await detect()
const wanted = (process.env.CAIRN_BENCH_DRIVERS ?? "kernel,rootless,fuse,copy").split(",")
const drivers = report.drivers.filter((d) => d.usable && wanted.includes(d.driver)).map((d) => d.driver)
const root = mkdtempSync(join(tmpdir(), "cairn-bench-"))
const rows = []
// a harness that times us out sends SIGTERM: leave no mount and no scratch dir behind
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    cleanupStale(root).finally(() => {
      rmSync(root, { recursive: true, force: true })
      process.exit(130)
    })
  })
}
try {
  const lowers = []
  for (let i = 0; i < Math.max(...LAYERS); i++) {
    const dir = join(root, "layers", `sha256-${String(i).padStart(64, "0")}`)
    mkdirSync(join(dir, "etc"), { recursive: true })
    writeFileSync(join(dir, "etc", `f${i}`), `${i}`)
    lowers.push(dir)
  }
  // fn(lap) calls lap() between mount and unmount: the split shows where time goes
  const time = async (fn, runs = RUNS) => {
    await fn(() => {}) // warm-up: page cache, depth probe, first spawn
    const ms = []
    const mountMs = []
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now()
      await fn(() => mountMs.push(performance.now() - t0))
      ms.push(performance.now() - t0)
    }
    return { ms, mountMs }
  }
  const row = (driver, n, { ms, mountMs }) => ({
    driver, layers: n, medianMs: round(median(ms)), minMs: round(Math.min(...ms)),
    mountMedianMs: round(median(mountMs)), unmountMedianMs: round(median(ms.map((t, i) => t - mountMs[i]))), runs: ms.length
  })
  for (const n of LAYERS) {
    const spec = (tag) => {
      const [upper, work, target] = ["upper", "work", "merged"].map((d) => join(root, `${tag}-${n}`, d))
      for (const d of [upper, work, target]) mkdirSync(d, { recursive: true })
      return { lowers: lowers.slice(0, n), upper, work, target }
    }
    // baseline: util-linux mount(8)/umount(8) alone with absolute paths (fits a page up to ~50 layers here)
    if (report.uid === 0) {
      const s = spec("raw")
      const data = `lowerdir=${s.lowers.join(":")},upperdir=${s.upper},workdir=${s.work}`
      if (data.length < 4096) {
        const t = await time(async (lap) => {
          execFileSync("mount", ["-t", "overlay", "overlay", "-o", data, s.target])
          lap()
          execFileSync("umount", [s.target])
        })
        rows.push(row("mount(8) baseline", n, t))
      }
    }
    for (const driver of drivers) {
      const variants = driver === "kernel" ? [[`kernel (${report.mountCall.via})`, undefined], ["kernel via mount(8)", "0"]] : [[driver, undefined]]
      for (const [label, helperEnv] of variants) {
        const saved = process.env.CAIRN_MOUNT_HELPER
        if (helperEnv !== undefined) process.env.CAIRN_MOUNT_HELPER = helperEnv
        try {
          const s = spec(label.replace(/\W+/g, "-"))
          const t = await time(async (lap) => {
            const m = await mount(s, { driver })
            lap()
            await m.unmount()
          }, driver === "copy" ? Math.min(RUNS, 3) : RUNS)
          rows.push(row(label, n, t))
        } finally {
          if (saved === undefined) delete process.env.CAIRN_MOUNT_HELPER
          else process.env.CAIRN_MOUNT_HELPER = saved
        }
      }
    }
  }
} finally {
  await cleanupStale(root)
  rmSync(root, { recursive: true, force: true })
}

const result = { kernel: report.kernel.release, mountCall: report.mountCall, loadavg: loadavg(), node: process.version, runs: RUNS, unit: "ms per mount+unmount", rows }
console.log(`mount + unmount latency (median of ${RUNS} runs, copy at most 3; kernel ${report.kernel.release})`)
console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(" ")} on ${cpus().length} CPUs (latency includes process spawns; compare with the baseline row)`)
console.log(`kernel driver: ${report.mountCall.via} (${report.mountCall.reason})`)
console.log("driver                        layers  median ms    min ms  mount ms  unmount ms")
for (const r of rows) {
  const cells = [r.medianMs, r.minMs, r.mountMedianMs, r.unmountMedianMs].map((x, i) => x.toFixed(2).padStart([10, 9, 9, 11][i]))
  console.log(`${r.driver.padEnd(29)} ${String(r.layers).padStart(6)} ${cells.join(" ")}`)
}
if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
else console.log(JSON.stringify(result))
