// Mount latency vs layer count. Prefers the mount package's own bench (its "bench" script,
// given a JSON output path); without one, times @cairn/mount's mount() and
// unmount() here on stacks of tiny lower directories.
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"
import { benchDir } from "./corpus.mjs"
import { median } from "./measure.mjs"

/** First line of an import failure, without the importer path. @param {unknown} e */
const short = (e) => String(/** @type {Error} */ (e).message).split("\n")[0].replace(/ imported from .*/, "")

const exec = promisify(execFile)

/** @param {{ quick: boolean, scratch: string }} opts */
export async function mountBench({ quick, scratch }) {
  const pkgJson = join(benchDir, "..", "packages", "mount", "package.json")
  const pkg = existsSync(pkgJson) ? JSON.parse(await readFile(pkgJson, "utf8")) : undefined
  if (!pkg) return { skip: "packages/mount does not exist" }
  if (pkg.scripts?.bench) {
    const jsonFile = join(scratch, "mount-bench.json")
    try {
      // its script takes the JSON output path as an argument and CAIRN_BENCH_RUNS
      const { stdout } = await exec("npm", ["run", "-s", "bench", "-w", "@cairn/mount", "--", jsonFile], {
        cwd: join(benchDir, ".."),
        // quick mode: the kernel driver only, one run per row (a smoke test)
        env: { ...process.env, CAIRN_BENCH_RUNS: quick ? "1" : "7", ...(quick ? { CAIRN_BENCH_DRIVERS: "kernel" } : {}) },
        maxBuffer: 1 << 24,
        timeout: 600_000
      })
      const json = existsSync(jsonFile) ? JSON.parse(await readFile(jsonFile, "utf8")) : undefined
      return { source: "@cairn/mount bench script", json, stdout: stdout.trim().split("\n").slice(-40).join("\n") }
    } catch (e) {
      return { skip: `@cairn/mount's bench script failed: ${/** @type {Error} */ (e).message.slice(0, 300)}` }
    }
  }
  let m
  try {
    m = await import("@cairn/mount")
  } catch (e) {
    return { skip: `@cairn/mount cannot be loaded (not built? run npm run build): ${short(e)}` }
  }
  if (typeof m.mount !== "function") return { skip: "@cairn/mount does not export mount() yet" }
  if (process.getuid?.() !== 0) return { skip: "kernel overlay mounts need root" }
  const counts = quick ? [1, 8, 32] : [1, 8, 32, 64, 128]
  const runs = quick ? 3 : 7
  const root = join(scratch, "mount")
  /** @type {Array<{ layers: number, mountMs?: number, unmountMs?: number, driver?: string, error?: string }>} */
  const rows = []
  for (const n of counts) {
    const lowers = []
    for (let i = 0; i < n; i++) {
      const d = join(root, `l${n}`, String(i))
      await mkdir(d, { recursive: true })
      await writeFile(join(d, `f${i}`), `${i}\n`)
      lowers.push(d)
    }
    const mountMs = []
    const unmountMs = []
    let driver
    let error
    for (let r = 0; r < runs && !error; r++) {
      const target = join(root, `t${n}-${r}`)
      const upper = join(root, `u${n}-${r}`)
      const work = join(root, `w${n}-${r}`)
      for (const d of [target, upper, work]) await mkdir(d, { recursive: true })
      try {
        const t0 = process.hrtime.bigint()
        const mounted = await m.mount({ lowers, upper, work, target }, { driver: "kernel" })
        const t1 = process.hrtime.bigint()
        const seen = await readdir(mounted.path)
        if (seen.length !== n) throw new Error(`merged view shows ${seen.length} entries, expected ${n}`)
        const t2 = process.hrtime.bigint()
        await mounted.unmount()
        const t3 = process.hrtime.bigint()
        driver = mounted.driver
        mountMs.push(Number(t1 - t0) / 1e6)
        unmountMs.push(Number(t3 - t2) / 1e6)
      } catch (e) {
        error = `${/** @type {Error & {_tag?: string}} */ (e)._tag ?? "Error"}: ${/** @type {Error} */ (e).message}`
      }
    }
    rows.push({ layers: n, ...(mountMs.length ? { mountMs: median(mountMs), unmountMs: median(unmountMs) } : {}), ...(driver ? { driver } : {}), ...(error ? { error } : {}) })
  }
  await rm(root, { recursive: true, force: true })
  return { source: "@cairn/mount mount()/unmount() timed by the scoreboard (kernel driver, tiny lowers, readdir checked)", runs, rows }
}
