// OCI runtime-spec 1.0 config.json derived from an image config (image-spec conversion.md),
// with the defaults of `runc spec` (libcontainer/specconv/example.go) for mounts, masking,
// capabilities and rlimits, so `crun run` / `runc run` accept the bundle as it is.
import { constants } from "node:fs"
import { open } from "node:fs/promises"
import { posix } from "node:path"
import type { ImageConfig } from "@cairn/oci-spec/lazy"
import { UnsafeEntryError } from "@cairn/overlay/errors"
import { RootPath } from "@cairn/overlay/rootpath"
import { UnsupportedImageError } from "./errors.js"

export interface RuntimeSpecOptions {
  /** Replaces Entrypoint + Cmd. */
  readonly args?: ReadonlyArray<string>
  readonly hostname?: string
  readonly terminal?: boolean
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
/** /etc/passwd and /etc/group larger than this are refused (a real one is a few KiB). */
export const MAX_USER_DB_BYTES = 4 * 1024 * 1024
/** The largest uid/gid Linux accepts ((uid_t)-1 means "no change"). */
const MAX_ID = 0xfffffffe

interface PasswdEntry {
  readonly name: string
  /** undefined when the row's id is not a valid uid/gid */
  readonly uid: number | undefined
  readonly gid: number | undefined
}

/** A decimal uid/gid in 0..4294967294, else undefined (negative, overflowing, not a number). */
function parseId(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return undefined
  const n = Number(s)
  return n <= MAX_ID ? n : undefined
}

/**
 * The bytes of /etc/`file` in the untrusted rootfs, or "" when it is absent. The path is resolved
 * inside the rootfs (symlinks evaluated as if the rootfs were "/", so nothing of the host is
 * read); only a regular file of at most MAX_USER_DB_BYTES is read (a FIFO, device or socket is
 * refused without blocking).
 */
async function readUserDb(rootfs: string, file: "passwd" | "group"): Promise<string> {
  const shown = `/etc/${file}`
  const fail = (reason: string) => new UnsupportedImageError({ image: rootfs, reason: `${shown} ${reason}` })
  let path: Buffer
  try {
    const root = new RootPath(rootfs)
    path = root.abs(root.resolve([Buffer.from("etc"), Buffer.from(file)], true, shown))
  } catch (e) {
    if (e instanceof UnsafeEntryError) throw fail(`cannot be resolved inside the image: ${(e as Error).message}`)
    throw e
  }
  let fh: Awaited<ReturnType<typeof open>>
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: resolve() followed every link
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return ""
    if (code === "ELOOP") throw fail("changed into a symbolic link while it was read")
    throw fail(`cannot be opened (${code ?? String(e)})`)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw fail(`is not a regular file (${kind(st)}); only a regular file is read`)
    if (st.size > MAX_USER_DB_BYTES) throw fail(`is ${st.size} bytes, more than the ${MAX_USER_DB_BYTES} bytes allowed`)
    const buf = Buffer.alloc(MAX_USER_DB_BYTES + 1)
    let n = 0
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n)
      if (bytesRead === 0) break
      n += bytesRead
    }
    if (n > MAX_USER_DB_BYTES) throw fail(`grew beyond the ${MAX_USER_DB_BYTES} bytes allowed while it was read`)
    return buf.toString("utf8", 0, n)
  } finally {
    await fh.close()
  }
}

function kind(st: import("node:fs").Stats): string {
  if (st.isFIFO()) return "a FIFO"
  if (st.isCharacterDevice()) return "a character device"
  if (st.isBlockDevice()) return "a block device"
  if (st.isSocket()) return "a socket"
  if (st.isDirectory()) return "a directory"
  return "not a file"
}

/** Rows of /etc/passwd (name:x:uid:gid:...) or /etc/group (name:x:gid:...) in the rootfs. */
async function readDb(rootfs: string, file: "passwd" | "group"): Promise<Array<PasswdEntry>> {
  const text = await readUserDb(rootfs, file)
  const out: Array<PasswdEntry> = []
  for (const line of text.split("\n")) {
    const f = line.split(":")
    if (f.length < 3 || f[0] === undefined || f[0] === "" || f[0].startsWith("#")) continue
    out.push({ name: f[0], uid: parseId(f[2]), gid: parseId(file === "passwd" ? f[3] : f[2]) })
  }
  return out
}

const numeric = (s: string) => /^\d+$/.test(s)

/**
 * Resolves the image's `User` (config.md: user, uid, user:group, uid:gid, uid:group, user:gid)
 * against the rootfs' /etc/passwd and /etc/group, both read inside the rootfs only.
 */
export async function resolveUser(rootfs: string, user: string | undefined | null): Promise<{ uid: number; gid: number }> {
  if (user === undefined || user === null || user === "") return { uid: 0, gid: 0 }
  const bad = (reason: string) => new UnsupportedImageError({ image: rootfs, reason: `User ${JSON.stringify(user)} ${reason}` })
  const parts = user.split(":")
  if (parts.length > 2) throw bad("has more than one \":\"; expected user, uid, user:group or uid:gid")
  const [u = "", g] = parts
  if (u === "" || g === "") throw bad("has an empty user or group; expected user, uid, user:group or uid:gid")
  const numericId = (s: string, what: string) => {
    const id = parseId(s)
    if (id === undefined) throw bad(`has ${what} ${s}, outside 0..${MAX_ID}`)
    return id
  }
  const passwd = await readDb(rootfs, "passwd")
  let uid: number
  let gid: number
  if (numeric(u)) {
    uid = numericId(u, "uid")
    gid = passwd.find((p) => p.uid === uid && p.gid !== undefined)?.gid ?? 0
  } else {
    const entry = passwd.find((p) => p.name === u)
    if (entry === undefined) throw bad(`names a user that is not in the image's /etc/passwd`)
    if (entry.uid === undefined || entry.gid === undefined) throw bad(`names a user whose /etc/passwd row has no valid uid and gid (0..${MAX_ID})`)
    uid = entry.uid
    gid = entry.gid
  }
  if (g !== undefined) {
    if (numeric(g)) gid = numericId(g, "gid")
    else {
      const group = (await readDb(rootfs, "group")).find((p) => p.name === g)
      if (group === undefined) throw bad(`names a group that is not in the image's /etc/group`)
      if (group.gid === undefined) throw bad(`names a group whose /etc/group row has no valid gid (0..${MAX_ID})`)
      gid = group.gid
    }
  }
  return { uid, gid }
}

/** The process cwd: the runtime spec requires an absolute path; a relative WorkingDir is taken from "/" (as docker does). */
function workingDir(dir: string | undefined | null): string {
  if (dir === undefined || dir === null || dir === "") return "/"
  if (dir.includes("\0")) throw new UnsupportedImageError({ image: "config", reason: `WorkingDir ${JSON.stringify(dir)} contains a NUL byte` })
  return posix.resolve("/", dir)
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
      cwd: workingDir(c.WorkingDir),
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
