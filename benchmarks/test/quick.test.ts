import { execFile, execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const exec = promisify(execFile)
const benchDir = join(import.meta.dirname, "..")

// every contender the scoreboard knows, per table: each must be measured or skipped with a reason
const CONTENDERS: Record<string, string[]> = {
  "extract-libs": ["cairn-wasm", "cairn-node", "tar-xzf", "umoci", "containerd", "gzip-dc", "tar-xf", "node-gunzip"],
  "extract-small": ["cairn-wasm", "cairn-node", "tar-xzf", "umoci", "containerd", "gzip-dc"],
  "extract-large": ["cairn-wasm", "cairn-node", "tar-xzf", "umoci", "containerd", "tar-xf", "gzip-dc", "node-gunzip"],
  "extract-multi": ["cairn-wasm", "umoci"],
  "sha256-large": ["cairn-wasm", "cairn-node", "sha256sum"],
  hash: ["kernel-wasm", "kernel-node"],
  startup: ["cairn-help", "cairn-images", "cairn-ps", "node", "skopeo", "umoci", "ctr"],
  pull: ["cairn-pull", "skopeo", "containerd", "receive", "write"],
  "pull-unpack": ["cairn-pull-unpack", "skopeo-umoci", "containerd"]
}
// tables whose rows are timed without a byte count (start-up): a median time, no MB/s
const TIMED_ONLY = new Set(["startup"])

// containerd is measured when its daemon and ctr are installed (Debian package containerd) and we are root
const containerdHere = (() => {
  try {
    execFileSync("sh", ["-c", "command -v containerd && command -v ctr"], { stdio: "ignore" })
    return process.getuid?.() === 0
  } catch {
    return false
  }
})()
if (!containerdHere) console.warn("scoreboard test: containerd or ctr is not installed (or not root): its rows must be skipped with a reason")

// the scratch filesystem is a loop-mounted ext4 when root can make one
const loopFsHere = (() => {
  try {
    execFileSync("sh", ["-c", "command -v mkfs.ext4 && command -v losetup"], { stdio: "ignore" })
    return process.getuid?.() === 0 && process.env.CAIRN_BENCH_FS !== "tmpdir"
  } catch {
    return false
  }
})()
/** the bench's scratch filesystems mounted or left in /var/tmp */
const scratchFilesystems = () => ({
  mounts: readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes("/cairn-bench-fs-")).length,
  dirs: readdirSync("/var/tmp").filter((n) => n.startsWith("cairn-bench-fs-")).sort()
})

interface Row { id: string; skipped?: string; failed?: string; medianS?: number; mbPerS?: number; metrics?: Record<string, number> }
interface Table { id: string; rows: Row[] }

describe("benchmark scoreboard, quick mode on a tiny corpus", () => {
  let out = ""
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true })
  })

  it("writes latest.md, latest.json and throughput.svg with every contender measured or skipped with a reason", async () => {
    out = await mkdtemp(join(tmpdir(), "cairn-bench-test-"))
    const scratchFsBefore = scratchFilesystems()
    await exec(process.execPath, [join(benchDir, "src", "bench.mjs")], {
      cwd: benchDir,
      env: { ...process.env, CAIRN_BENCH_QUICK: "1", CAIRN_BENCH_SCALE: "0.002", CAIRN_BENCH_RUNS: "1", CAIRN_BENCH_OUT: out },
      maxBuffer: 1 << 26,
      timeout: 280_000
    })
    for (const f of ["latest.md", "latest.json", "throughput.svg"]) expect(existsSync(join(out, f)), f).toBe(true)
    const result = JSON.parse(await readFile(join(out, "latest.json"), "utf8")) as {
      tables: Table[]
      mount: { skip?: string }
      profiles: Array<{ corpus: string; skip?: string; buckets?: unknown[] }>
      machine: { scratchFs: string }
    }
    // the outputs went to a journaled ext4 of the run's own (root with mkfs.ext4, as in CI), which
    // is unmounted and gone afterwards
    if (loopFsHere) expect(result.machine.scratchFs).toMatch(/^ext4 \(journal\), made by mkfs\.ext4 for this run/)
    else console.warn(`scoreboard test: outputs measured on ${result.machine.scratchFs}`)
    expect(scratchFilesystems()).toEqual(scratchFsBefore)
    for (const [table, ids] of Object.entries(CONTENDERS)) {
      const t = result.tables.find((x) => x.id === table)
      expect(t, table).toBeDefined()
      for (const id of ids) {
        const row = t!.rows.find((r) => r.id === id)
        expect(row, `${table}/${id}`).toBeDefined()
        // a failed correctness check is a real failure, not a skip
        expect(row!.failed, `${table}/${id} failed`).toBeUndefined()
        if (id === "containerd" && containerdHere) expect(row!.skipped, `${table}/containerd skipped although containerd is installed`).toBeUndefined()
        if (row!.skipped === undefined) expect(TIMED_ONLY.has(table) ? row!.medianS : row!.mbPerS, `${table}/${id}`).toBeGreaterThan(0)
        else {
          expect(row!.skipped.length, `${table}/${id} skip reason`).toBeGreaterThan(10)
          console.warn(`scoreboard: ${table}/${id} skipped: ${row!.skipped}`)
        }
      }
    }
    // every run on Linux records the machine's CPU beside its own (the pull's bound counts the writeback with it)
    const pull = result.tables.find((x) => x.id === "pull")!
    for (const row of pull.rows.filter((r) => r.skipped === undefined)) {
      const machineS = (row as Row & { machineS?: number }).machineS
      expect(machineS, `pull/${row.id} machineS`).toBeGreaterThanOrEqual(0)
      // /proc/stat counts in ticks: a short baseline may fall between them, a Node process's start-up does not
      if (row.id === "cairn-pull") expect(machineS, "pull/cairn-pull machineS").toBeGreaterThan(0)
    }
    // the kernel-alone rows carry the rates the tier check and the in-pipeline ratio are computed from
    const hash = result.tables.find((x) => x.id === "hash")!
    for (const row of hash.rows.filter((r) => r.skipped === undefined)) expect(row.metrics?.mbPerCpuS, row.id).toBeGreaterThan(0)
    if (result.mount.skip !== undefined) expect(result.mount.skip.length).toBeGreaterThan(5)
    expect(result.profiles.map((p) => p.corpus)).toEqual(["large", "small"])
    for (const p of result.profiles) {
      if (p.skip === undefined) expect(p.buckets?.length).toBeGreaterThan(0)
      else expect(p.skip.length).toBeGreaterThan(5)
    }
    const md = await readFile(join(out, "latest.md"), "utf8")
    expect(md).toContain("## Method")
    expect(md).toContain("GNU tar -xzf")
    // issue 7's pull target sits beside issue 4's
    expect(md).toMatch(/\| 7 \| pull \| .*skopeo copy .*≥ 1\.5×/)
    expect(md).toMatch(/\| 4 \| libs \| .*GNU tar -xzf .*≥ 1\.3×/)
    // issue 13's targets, each with a verdict computed from this run, and the containerd column
    expect(md).toContain("## Issue 13 targets")
    expect(md).toMatch(/\| 50,000 small files \| ≥ 1× containerd[^|]*\| [^|]+\| [^|]+\| [^|]+\| (met|NOT met|not measured)/)
    expect(md).toMatch(/\| in-pipeline WASM hash rate \| ≥ 0\.9× the kernel alone \|.*\| (met|NOT met) \|/)
    expect(md).toMatch(/\| `cairn --help` \| ≤ 0\.3 s \|.*\| (met|NOT met) \|/)
    expect(md).toContain("**Tier check.**")
    expect(await readFile(join(out, "throughput.svg"), "utf8")).toMatch(/^<svg[\s\S]*<\/svg>\n$/)
  })
})
