/**
 * Device nodes and FIFOs. Node has no mknod, so mknod(1) creates them (and the 0/0 character
 * devices overlayfs uses as whiteouts).
 */
import { spawnSync } from "node:child_process"
import { renameSync, rmSync } from "node:fs"
import type { LayerApplier } from "./entryApplier.js"
import { showPath } from "./errors.js"
import type { TarHeader } from "./tar/header.js"

let tmpSeq = 0
/**
 * mknod(1) at a temporary ASCII name in the root, then rename into place (same filesystem):
 * child process arguments are strings, so a non-UTF-8 name could not be passed to it.
 * Returns true, or the reason the node was not made.
 */
export function mknod(root: Buffer, abs: Buffer, type: "char" | "block" | "fifo", mode: number, major: number, minor: number): true | string {
  const name = `.cairn-mknod-${process.pid}-${tmpSeq++}`
  const args = ["-m", (mode & 0o777).toString(8), name, type === "char" ? "c" : type === "block" ? "b" : "p"]
  if (type !== "fifo") args.push(String(major), String(minor))
  const r = spawnSync("mknod", args, { cwd: root.toString("utf8"), encoding: "utf8" })
  if (r.error) return r.error.message
  if (r.status !== 0) return r.stderr.trim() || `mknod exited with ${r.status}`
  const tmp = Buffer.concat([root, Buffer.from(`/${name}`)])
  try {
    renameSync(tmp, abs)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
  return true
}

/** Whether a device entry can be made: char and block devices need root; FIFOs do not. */
export function deviceSkipReason(type: string, major: number, minor: number, rootless: boolean): string | undefined {
  return rootless && (type === "char" || type === "block") ? `${type} device ${major}:${minor} skipped: device nodes need root` : undefined
}

/** A character or block device or FIFO entry via mknod(1); false when skipped with a warning. */
export function applyDevice(a: LayerApplier, h: TarHeader, abs: Buffer): boolean {
  const skip = deviceSkipReason(h.type, h.devmajor, h.devminor, a.rootless)
  if (skip !== undefined) {
    a.warnings.push({ path: showPath(h.path), reason: skip })
    return false
  }
  a.replace(abs)
  const ok = mknod(a.root.root, abs, h.type as "char" | "block" | "fifo", h.mode, h.devmajor, h.devminor)
  if (ok !== true) {
    a.warnings.push({ path: showPath(h.path), reason: `${h.type} not created: ${ok}` })
    return false
  }
  return true
}
