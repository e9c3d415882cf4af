// containerd as a peer: a private daemon (Debian's containerd 1.6) on a temporary root, state dir
// and socket, with a minimal config (CRI, tracing, runtimes and every snapshotter but overlayfs
// and native off), driven with `ctr`. The scoreboard starts one fresh daemon per timed run (untimed),
// so that no content or snapshot of an earlier run is reused, and stops it after the run's output
// has been checked; every daemon still alive is stopped (and any mount it left under its root
// unmounted) on exit, SIGINT and SIGTERM.
import { execFile, execFileSync, spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"

const exec = promisify(execFile)
export const CONTAINERD_BIN = "containerd"
export const NAMESPACE = "bench"

/** Why containerd cannot be a peer here, or undefined. */
export function containerdUnavailable() {
  for (const bin of ["containerd", "ctr"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" })
    } catch {
      return `${bin} is not installed (Debian package containerd)`
    }
  }
  if (process.getuid?.() !== 0) return "containerd's overlayfs snapshotter needs root"
  return undefined
}

/** containerd's version line, e.g. "containerd 1.6.20~ds1". */
export function containerdVersion() {
  try {
    const v = execFileSync("containerd", ["--version"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim().split(" ")
    return `containerd ${v[2] ?? "?"}`
  } catch {
    return "not installed"
  }
}

/** @type {Set<{ stop: () => Promise<void> }>} */
const live = new Set()

/** Stops every daemon still running (the bench's SIGINT/SIGTERM path and its final cleanup). */
export async function stopAllContainerd() {
  for (const d of [...live]) await d.stop()
}

/** Mount points under `dir` (deepest first), from /proc/self/mountinfo. @param {string} dir */
const mountsUnder = (dir) => {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4])
      .filter((p) => p && (p === dir || p.startsWith(`${dir}/`)))
      .sort((a, b) => b.length - a.length)
  } catch {
    return []
  }
}

/** CPU seconds (user, sys) and peak RSS of a live process, from /proc. @param {number} pid */
export function processUsage(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the ")"; clock ticks are 100 Hz on Linux
    const hz = 100
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return { userS: Number(f[11]) / hz, sysS: Number(f[12]) / hz, rssKB: hwm }
  } catch {
    return { userS: 0, sysS: 0, rssKB: 0 }
  }
}

/**
 * Starts a private containerd in `dir`; resolves once it answers on its socket.
 * @param {string} dir
 * @returns {Promise<{ dir: string, root: string, sock: string, pid: number, ctr: (args: string[]) => Promise<string>, usage: () => { userS: number, sysS: number, rssKB: number }, stop: () => Promise<void> }>}
 */
export async function startContainerd(dir) {
  const root = join(dir, "root")
  const state = join(dir, "state")
  const sock = join(dir, "c.sock")
  await mkdir(root, { recursive: true })
  await mkdir(state, { recursive: true })
  const config = join(dir, "config.toml")
  // containerd 1.6 config version 2; a plugin that is disabled is not even loaded
  const disabled = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.internal.v1.tracing",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.runtime.v1.linux",
    "io.containerd.monitor.v1.cgroups"
  ]
  await writeFile(
    config,
    [
      "version = 2",
      `root = ${JSON.stringify(root)}`,
      `state = ${JSON.stringify(state)}`,
      `disabled_plugins = ${JSON.stringify(disabled)}`,
      "[grpc]",
      `  address = ${JSON.stringify(sock)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
      "[debug]",
      '  address = ""',
      '  level = "warn"',
      "[metrics]",
      '  address = ""',
      ""
    ].join("\n")
  )
  const child = spawn(CONTAINERD_BIN, ["--config", config], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr.on("data", (c) => (stderr = (stderr + c).slice(-3000)))
  const exited = new Promise((resolve) => child.on("close", resolve))
  const ctr = async (/** @type {string[]} */ args) => (await exec("ctr", ["-a", sock, "-n", NAMESPACE, ...args], { maxBuffer: 1 << 26 })).stdout
  const daemon = {
    dir,
    root,
    sock,
    pid: /** @type {number} */ (child.pid),
    ctr,
    usage: () => processUsage(/** @type {number} */ (child.pid)),
    stop: async () => {
      live.delete(daemon)
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM")
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000)
        await exited
        clearTimeout(t)
      }
      // an unpack stopped half way may leave its temporary mount under root/tmpmounts
      for (const m of mountsUnder(dir)) {
        try {
          execFileSync("umount", ["-l", m], { stdio: "ignore" })
        } catch {}
      }
    }
  }
  live.add(daemon)
  // bounded wait: 10 s for the socket to answer
  for (let i = 0; ; i++) {
    if (existsSync(sock)) {
      const ok = await exec("ctr", ["-a", sock, "version"]).then(
        () => true,
        () => false
      )
      if (ok) break
    }
    if (i > 100 || child.exitCode !== null) {
      await daemon.stop()
      throw new Error(`containerd did not start in ${dir}: ${stderr.trim().split("\n").slice(-3).join(" / ")}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return daemon
}

/**
 * The directories holding the layers of the committed snapshot `chainId`, bottom layer first, from
 * the mounts containerd gives a read-only view of it (a bind mount for one layer, else overlay
 * lowerdir=top:…:bottom). The view is removed afterwards.
 * @param {{ ctr: (args: string[]) => Promise<string> }} daemon @param {string} chainId
 * @returns {Promise<string[]>}
 */
export async function snapshotLayerDirs(daemon, chainId) {
  const key = `bench-check-${process.pid}-${Date.now()}`
  const mounts = JSON.parse(await daemon.ctr(["snapshots", "view", "--mounts", key, chainId]))
  await daemon.ctr(["snapshots", "rm", key]).catch(() => {})
  // ctr prints the Go struct: {"Type", "Source", "Options"}
  const [raw] = mounts
  if (!raw) throw new Error(`containerd gave no mounts for a view of ${chainId}`)
  const m = { type: raw.Type ?? raw.type, source: raw.Source ?? raw.source, options: raw.Options ?? raw.options ?? [] }
  if (m.type === "bind") return [m.source]
  const lower = m.options.find((/** @type {string} */ o) => o.startsWith("lowerdir="))
  if (m.type !== "overlay" || !lower) throw new Error(`unexpected mount for a view of ${chainId}: ${JSON.stringify(m)}`)
  return lower.slice("lowerdir=".length).split(":").reverse()
}

/** Where the daemon's content store keeps blobs (an OCI-layout-like blobs/sha256/<hex>). @param {{ root: string }} daemon */
export const contentDir = (daemon) => join(daemon.root, "io.containerd.content.v1.content")

/**
 * Makes an oci-archive of `oci:tag` with skopeo (the blobs copied as they are), for `ctr images import`.
 * @param {string} oci @param {string} tag @param {string} path
 */
export async function ociArchive(oci, tag, path) {
  if (!existsSync(path)) await exec("skopeo", ["copy", "--quiet", `oci:${oci}:${tag}`, `oci-archive:${path}:${tag}`], { maxBuffer: 1 << 24 })
  return path
}
