// The copy driver materializes a container's merged tree into merged/; the writes land there,
// not in upper/. Any process (cairn umount, diff, commit run after the cairn mount that made it)
// records them by diffing merged/ against the lowers' merged tree (@cairn/overlay diffDirs) and
// applying that layer in overlay form as the new upper (whiteouts, opaque dirs).
import { lstat, mkdir, readdir, rename, rm } from "node:fs/promises"
import { join } from "node:path"
import { acquireMount } from "@cairn/mount"
import { applyLayer, diffDirs, type OverlayXattrNamespace } from "@cairn/overlay"
import * as Effect from "effect/Effect"
import { isHostRoot } from "./userns.js"

/** The overlay xattr namespace of an upper written by `driver` (user.* for rootless, and for copy when not host root). */
export const upperXattrNamespace = (driver: string | undefined): OverlayXattrNamespace =>
  driver === "rootless" || (driver === "copy" && !isHostRoot()) ? "user" : "trusted"

const exists = (p: string) => lstat(p).then(() => true, () => false)

/**
 * Rewrites `<dir>/upper` as the changes of `<dir>/merged` against `lowers` (the overlay spec's lowers, top first).
 * The new upper is built beside the old one and renamed in; an interrupted sync is finished
 * (or discarded) by the next one. The caller holds the container's lock.
 */
export async function syncCopyUpper(dir: string, lowers: ReadonlyArray<string>): Promise<void> {
  const upper = join(dir, "upper")
  const fresh = join(dir, ".upper-new")
  const old = join(dir, ".upper-old")
  const view = join(dir, ".lower-view")
  const layer = join(dir, ".copy-layer.tar")
  // a crash between the two renames below left the new upper complete beside no upper
  if (!(await exists(upper)) && (await exists(fresh))) await rename(fresh, upper)
  for (const p of [fresh, old, view, layer]) await rm(p, { recursive: true, force: true })
  await mkdir(view)
  try {
    // the lowers' merged tree, read-only: hardlinks, no data copied
    const lowerView = await Effect.runPromise(acquireMount({ lowers, target: view }, { driver: "copy" }))
    try {
      await diffDirs(view, join(dir, "merged"), layer, { compression: "none", subsecondMtime: true })
    } finally {
      await Effect.runPromise(lowerView.unmount())
    }
    const ns = upperXattrNamespace("copy")
    // not host root (also inside cairn unshare): no mknod, no trusted.* xattrs, owners as they are
    const rootless = !isHostRoot()
    await applyLayer(layer, fresh, { form: "overlay", rootless, overlay: { xattrNamespace: ns, whiteout: rootless ? "xattr" : "device" } })
    await rename(upper, old)
    await rename(fresh, upper)
  } finally {
    for (const p of [fresh, old, view, layer]) await rm(p, { recursive: true, force: true })
  }
}

/** Empties merged/ (the copy driver's unmount): its changes must have been synced first. */
export async function emptyMerged(dir: string): Promise<void> {
  const merged = join(dir, "merged")
  for (const name of await readdir(merged)) await rm(join(merged, name), { recursive: true, force: true })
}
