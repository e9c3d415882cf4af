// OCI runtime-spec 1.0 config.json derived from an image config (image-spec conversion.md),
// with the defaults of `runc spec` (libcontainer/specconv/example.go) for mounts, masking,
// capabilities and rlimits, so `crun run` / `runc run` accept the bundle as it is.
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import type { ImageConfig } from "@cairn/oci-spec"
import { UnsupportedImageError } from "./errors.js"

export interface RuntimeSpecOptions {
  /** Replaces Entrypoint + Cmd. */
  readonly args?: ReadonlyArray<string>
  readonly hostname?: string
  readonly terminal?: boolean
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

interface PasswdEntry {
  readonly name: string
  readonly uid: number
  readonly gid: number
}

/** Rows of /etc/passwd (name:x:uid:gid:...) or /etc/group (name:x:gid:...) in the rootfs. */
async function readDb(rootfs: string, file: "passwd" | "group"): Promise<Array<PasswdEntry>> {
  // the rootfs is untrusted, but only read here; a symlinked /etc/passwd just fails to parse usefully
  const text = await readFile(join(rootfs, "etc", file), "utf8").catch(() => "")
  const out: Array<PasswdEntry> = []
  for (const line of text.split("\n")) {
    const f = line.split(":")
    if (f.length < 3 || f[0] === undefined || f[0].startsWith("#")) continue
    const uid = Number(f[2])
    const gid = Number(file === "passwd" ? f[3] : f[2])
    if (Number.isInteger(uid) && Number.isInteger(gid)) out.push({ name: f[0], uid, gid })
  }
  return out
}

const numeric = (s: string) => /^\d+$/.test(s)

/**
 * Resolves the image's `User` (config.md: user, uid, user:group, uid:gid, uid:group, user:gid)
 * against the rootfs' /etc/passwd and /etc/group.
 */
export async function resolveUser(rootfs: string, user: string | undefined | null): Promise<{ uid: number; gid: number }> {
  if (user === undefined || user === null || user === "") return { uid: 0, gid: 0 }
  const [u = "", g] = user.split(":", 2)
  const passwd = await readDb(rootfs, "passwd")
  let uid: number
  let gid: number
  if (numeric(u)) {
    uid = Number(u)
    gid = passwd.find((p) => p.uid === uid)?.gid ?? 0
  } else {
    const entry = passwd.find((p) => p.name === u)
    if (entry === undefined) throw new UnsupportedImageError({ image: rootfs, reason: `user ${JSON.stringify(u)} is not in the image's /etc/passwd` })
    uid = entry.uid
    gid = entry.gid
  }
  if (g !== undefined && g !== "") {
    if (numeric(g)) gid = Number(g)
    else {
      const group = (await readDb(rootfs, "group")).find((p) => p.name === g)
      if (group === undefined) throw new UnsupportedImageError({ image: rootfs, reason: `group ${JSON.stringify(g)} is not in the image's /etc/group` })
      gid = group.gid
    }
  }
  return { uid, gid }
}

export async function runtimeSpec(config: ImageConfig, rootfs: string, options: RuntimeSpecOptions = {}): Promise<Record<string, unknown>> {
  const c = config.config ?? {}
  const args = options.args ?? [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])]
  const env = [...(c.Env ?? [])]
  if (!env.some((e) => e.startsWith("PATH="))) env.unshift(DEFAULT_PATH)
  const user = await resolveUser(rootfs, c.User)
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: options.terminal ?? false,
      user,
      args: args.length > 0 ? args : ["sh"],
      env,
      cwd: c.WorkingDir !== undefined && c.WorkingDir !== null && c.WorkingDir !== "" ? c.WorkingDir : "/",
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true
    },
    root: { path: "rootfs", readonly: false },
    hostname: options.hostname ?? "cairn",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] }
    ],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
      maskedPaths: [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    }
  }
}
