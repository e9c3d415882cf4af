// Timing one contender run: a child process under /usr/bin/time (peak RSS of every tool
// measured the same way), wall time taken by this process around spawn..exit.
import { execFileSync, spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { readFile, rm } from "node:fs/promises"

export const haveGnuTime = existsSync("/usr/bin/time")

/** Whether `bin` is on the PATH. */
export const has = (/** @type {string} */ bin) => {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/**
 * The whole machine's busy CPU seconds so far (every process and kernel thread: user, nice,
 * system, irq, softirq of /proc/stat's first line), or undefined where there is no /proc/stat.
 * Around a run it counts what the run's own process CPU does not: the kernel's writeback threads
 * flushing its files, and the servers it talks to.
 */
export function machineCpuS() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number)
    // USER_HZ is 100 on every Linux architecture node runs on
    return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0)) / 100
  } catch {
    return undefined
  }
}

/**
 * @param {string} cmd @param {string[]} args @param {string} timeFile
 * @returns {Promise<{ code: number | null, wallS: number, rssKB: number | undefined, userS: number | undefined, sysS: number | undefined, machineS: number | undefined, stdout: string, stderr: string }>}
 */
export async function timed(cmd, args, timeFile) {
  const argv = haveGnuTime ? ["/usr/bin/time", ["-f", "%M %U %S", "-o", timeFile, cmd, ...args]] : [cmd, args]
  const machine0 = machineCpuS()
  const start = process.hrtime.bigint()
  const child = spawn(/** @type {string} */ (argv[0]), /** @type {string[]} */ (argv[1]), { stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (c) => (stdout += c))
  child.stderr.on("data", (c) => (stderr = (stderr + c).slice(-4000)))
  const code = await new Promise((resolve, reject) => {
    child.on("error", reject)
    child.on("close", resolve)
  })
  const wallS = Number(process.hrtime.bigint() - start) / 1e9
  const machine1 = machineCpuS()
  const machineS = machine0 === undefined || machine1 === undefined ? undefined : machine1 - machine0
  let rssKB
  let userS
  let sysS
  if (haveGnuTime) {
    const lines = (await readFile(timeFile, "utf8").catch(() => "")).trim().split("\n")
    const last = (lines.at(-1) ?? "").split(" ").map(Number)
    if (last.length === 3 && last.every(Number.isFinite)) [rssKB, userS, sysS] = last
    await rm(timeFile, { force: true })
  }
  return { code, wallS, rssKB, userS, sysS, machineS, stdout, stderr }
}

/** @param {number[]} xs */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Runs `sync` so that writeback of one run's output does not land inside the next timed run. */
export const sync = () =>
  new Promise((resolve) => {
    spawn("sync", [], { stdio: "ignore" }).on("close", resolve).on("error", resolve)
  })
