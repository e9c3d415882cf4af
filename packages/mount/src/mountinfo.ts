import { readFile } from "node:fs/promises"
import * as Effect from "effect/Effect"
import { FileSystemError } from "./errors.js"

/** One line of /proc/<pid>/mountinfo (proc(5)). */
export interface MountInfo {
  readonly id: number
  readonly parentId: number
  readonly major: number
  readonly minor: number
  /** The directory of the source filesystem that is mounted (bind mounts show a subdirectory). */
  readonly root: string
  readonly mountPoint: string
  readonly mountOptions: ReadonlyArray<string>
  /** shared:N, master:N, propagate_from:N, unbindable */
  readonly optionalFields: ReadonlyArray<string>
  readonly fsType: string
  readonly source: string
  readonly superOptions: ReadonlyArray<string>
}

/** The kernel escapes space, tab, newline and backslash as \ooo (fs/proc_namespace.c mangle). */
export const unescapeMountField = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)))

/** Parses mountinfo text; malformed lines are skipped rather than guessed at. */
export const parseMountInfo = (text: string): Array<MountInfo> => {
  const out: Array<MountInfo> = []
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    const fields = line.split(" ")
    const dash = fields.indexOf("-", 6)
    if (dash < 0 || fields.length < dash + 3) continue
    const [id, parentId, dev, root, mountPoint, mountOptions] = fields
    const [major, minor] = (dev ?? "").split(":")
    out.push({
      id: Number(id),
      parentId: Number(parentId),
      major: Number(major),
      minor: Number(minor),
      root: unescapeMountField(root ?? ""),
      mountPoint: unescapeMountField(mountPoint ?? ""),
      mountOptions: (mountOptions ?? "").split(","),
      optionalFields: fields.slice(6, dash),
      fsType: unescapeMountField(fields[dash + 1] ?? ""),
      source: unescapeMountField(fields[dash + 2] ?? ""),
      superOptions: fields.slice(dash + 3).join(" ").split(",")
    })
  }
  return out
}

/** The mounts of this process's mount namespace (or of `pid`'s). */
export const listMountsEffect = (pid: number | "self" = "self"): Effect.Effect<Array<MountInfo>, FileSystemError> =>
  Effect.tryPromise({
    try: () => readFile(`/proc/${pid}/mountinfo`, "utf8"),
    catch: (e) =>
      new FileSystemError({
        operation: "read",
        path: `/proc/${pid}/mountinfo`,
        code: (e as NodeJS.ErrnoException).code ?? "EIO",
        detail: "is /proc mounted? mount listing needs Linux procfs"
      })
  }).pipe(Effect.map(parseMountInfo))

export const listMounts = (pid: number | "self" = "self"): Promise<Array<MountInfo>> => Effect.runPromise(listMountsEffect(pid))

/** The topmost mount at exactly `path` (mounts stack; the last listed is visible). */
export const mountAt = (mounts: ReadonlyArray<MountInfo>, path: string): MountInfo | undefined =>
  mounts.findLast((m) => m.mountPoint === path)

/** Mounts at or below `root`, deepest first (the order to unmount them in). */
export const mountsUnder = (mounts: ReadonlyArray<MountInfo>, root: string): Array<MountInfo> => {
  const prefix = root.endsWith("/") ? root : `${root}/`
  return mounts
    .map((m, order) => ({ m, order }))
    .filter(({ m }) => m.mountPoint === root || m.mountPoint.startsWith(prefix))
    // deeper paths first; among stacked mounts on one path, the later (top) one first
    .sort((a, b) => b.m.mountPoint.split("/").length - a.m.mountPoint.split("/").length || b.order - a.order)
    .map(({ m }) => m)
}
