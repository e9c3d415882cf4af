// Rootless mounts that outlive the command that made them, as podman does it: one long-lived
// holder process per root (podman's "pause process") owns a user + mount namespace; `cairn
// unshare` enters it (nsenter -U -m), and mounts made in there live as long as the holder.
// ROOT/userns.json records the holder's pid and start time (a recycled pid is not our holder).
import { spawn } from "node:child_process"
import { readFileSync, readlinkSync } from "node:fs"
import { join } from "node:path"
import { UNSHARE_ARGS } from "@cairn/mount"
import * as Data from "effect/Data"
import { readJson, writeJsonAtomic } from "./atomic.js"
import { withLock } from "./lock.js"

/** The holder as recorded in the root. */
export interface NamespaceHolder {
  readonly pid: number
  /** field 22 of /proc/<pid>/stat, clock ticks since boot: tells our holder from a recycled pid */
  readonly start: string
}

/** A mount that must outlive this command needs the root's user namespace, and this process is outside it. */
export class NamespaceRequiredError extends Data.TaggedError("NamespaceRequiredError")<{
  readonly operation: string
  readonly container: string
}> {
  override get message() {
    return `cannot ${this.operation} ${this.container} as a non-root user outside cairn's user namespace, where rootless mounts live: run it inside "cairn unshare" (cairn unshare cairn ${this.operation} ${this.container})`
  }
}

/** The holder could not be started (no unshare(1), or user namespaces are not allowed here). */
export class NamespaceHolderError extends Data.TaggedError("NamespaceHolderError")<{
  readonly reason: string
}> {
  override get message() {
    return `cannot start the user namespace holder (unshare ${UNSHARE_ARGS.join(" ")} sleep infinity): ${this.reason}`
  }
}

const holderFile = (root: string) => join(root, "userns.json")

/** Start time of a live process (a zombie, killed but not yet reaped, counts as gone). */
const startTime = (pid: number): string | undefined => {
  try {
    // the comm field may hold spaces and parens: the fields after it start after the last ")"
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return fields[0] === "Z" || fields[0] === "X" ? undefined : fields[19]
  } catch {
    return undefined
  }
}

const nsOf = (pid: number | "self", kind: "user" | "mnt"): string | undefined => {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`)
  } catch {
    return undefined
  }
}

/** Whether the recorded holder still runs (same pid, same start time). */
export const holderAlive = (h: NamespaceHolder): boolean => startTime(h.pid) === h.start

/** The root's live holder, if any. */
export async function currentHolder(root: string): Promise<NamespaceHolder | undefined> {
  const h = await readJson<NamespaceHolder>(holderFile(root)).catch(() => undefined)
  return h !== undefined && holderAlive(h) ? h : undefined
}

/** Whether this process runs in the holder's user and mount namespaces (inside `cairn unshare`). */
export const insideHolder = (h: NamespaceHolder | undefined): boolean =>
  h !== undefined && nsOf("self", "user") === nsOf(h.pid, "user") && nsOf("self", "mnt") === nsOf(h.pid, "mnt")

/**
 * Whether this process is real root, i.e. needs no namespace for mounts: uid 0 in the initial user
 * namespace, whose uid_map is the identity over the whole range (/proc/1/ns may not be readable,
 * even by root, in a sandbox, so it is not compared with pid 1's namespace).
 */
export const isHostRoot = (): boolean => {
  if (process.getuid?.() !== 0) return false
  try {
    const map = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/)
    return map.length === 3 && map[0] === "0" && map[1] === "0" && map[2] === "4294967295"
  } catch {
    return false
  }
}

/** The root's holder, started (detached, surviving this process) when none runs. */
export async function ensureHolder(root: string): Promise<NamespaceHolder> {
  return withLock(join(root, "locks"), "userns", async () => {
    const running = await currentHolder(root)
    if (running !== undefined) return running
    const pid = await new Promise<number>((resolve, reject) => {
      // `echo` once the namespace exists and the uid map is written; then sleep forever
      const child = spawn("unshare", [...UNSHARE_ARGS, "sh", "-c", "echo ready && exec sleep infinity"], {
        cwd: "/",
        detached: true,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr.on("data", (d: Buffer) => { stderr += d.toString() })
      child.on("error", (e: NodeJS.ErrnoException) =>
        reject(new NamespaceHolderError({ reason: e.code === "ENOENT" ? "unshare (util-linux) is not installed" : e.message })))
      child.on("exit", (code) => reject(new NamespaceHolderError({ reason: stderr.trim() || `exit ${code}` })))
      child.stdout.once("data", () => {
        child.removeAllListeners("exit")
        child.stdout.destroy()
        child.stderr.destroy()
        child.unref()
        resolve(child.pid ?? -1)
      })
    })
    const start = startTime(pid)
    if (start === undefined) throw new NamespaceHolderError({ reason: `the holder (pid ${pid}) exited at once` })
    const holder: NamespaceHolder = { pid, start }
    await writeJsonAtomic(holderFile(root), holder)
    return holder
  })
}

/** argv that runs `argv` inside the holder's namespaces (util-linux nsenter, as podman unshare does). */
export const enterArgs = (h: NamespaceHolder, argv: ReadonlyArray<string>): Array<string> => [
  "nsenter",
  "-t",
  String(h.pid),
  "-U",
  "-m",
  "--preserve-credentials",
  "--",
  ...argv
]
