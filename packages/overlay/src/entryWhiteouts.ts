/**
 * Whiteouts and opaque markers of one layer (layer.md "Whiteouts"): in flat form they delete what
 * the lower layers put there (never what this layer adds); in overlay form they become overlayfs's
 * own markers, a 0/0 character device or the whiteout xattr, and the opaque xattr.
 */
import { closeSync, lstatSync, openSync, readdirSync, rmSync } from "node:fs"
import type { LayerApplier } from "./entryApplier.js"
import { mknod } from "./deviceNodes.js"
import { key, WRITE_FLAGS } from "./entryIO.js"
import { showPath, UnsafeEntryError } from "./errors.js"
import type { TarHeader } from "./tar/header.js"
import { overlayOpaqueXattr, overlayWhiteoutXattr } from "./whiteout.js"

const SLASH = Buffer.from("/")

/** A `.wh..wh..opq` entry: its directory shows none of the lower layers' children. */
export function applyOpaque(a: LayerApplier, h: TarHeader): void {
  const { parent, name } = a.root.entry(h.path)
  if (name === undefined) throw new UnsafeEntryError({ path: showPath(h.path), reason: "opaque marker without a directory" })
  a.ensureDir(parent, h)
  if (a.form === "overlay") {
    const k = key(parent)
    const cur = a.xattrs.get(k)
    const x = cur?.xattrs ?? new Map<string, Buffer>()
    x.set(overlayOpaqueXattr(a.ns), Buffer.from("y"))
    a.xattrs.set(k, { path: a.root.abs(parent), xattrs: x })
    return
  }
  a.touchParent(parent)
  removeLower(a, parent)
  a.forget()
}

/** Opaque directory, flat form: remove every child the lower layers put there, keep this layer's. */
function removeLower(a: LayerApplier, dir: Buffer[]): void {
  const abs = a.root.abs(dir)
  for (const d of readdirSync(abs, { encoding: "buffer", withFileTypes: true })) {
    const comps = [...dir, d.name as unknown as Buffer]
    if (a.added.has(key(comps))) {
      if (d.isDirectory()) removeLower(a, comps)
      continue
    }
    rmSync(Buffer.concat([abs, SLASH, d.name as unknown as Buffer]), { recursive: true, force: true })
  }
}

/** A `.wh.NAME` entry: NAME removed (flat form) or marked as a whiteout (overlay form: a 0/0 device or the xattr). */
export function applyWhiteout(a: LayerApplier, h: TarHeader, target: Buffer): void {
  if (target.length === 0 || (target.length === 1 && target[0] === 0x2e) || (target.length === 2 && target[0] === 0x2e && target[1] === 0x2e))
    throw new UnsafeEntryError({ path: showPath(h.path), reason: "a whiteout must name an entry of its directory" })
  const { parent } = a.root.entry(h.path)
  const comps = [...parent, target]
  const k = key(comps)
  if (a.added.has(k)) return // whiteouts never remove what their own layer adds
  const abs = a.root.abs(comps)
  try {
    // A parent that is not a directory (e.g. replaced by a file in this layer) hides everything below it already.
    let parentIsDir: boolean | undefined
    try {
      parentIsDir = lstatSync(a.root.abs(parent)).isDirectory()
    } catch {}
    if (parentIsDir === false) return
    if (a.form === "flat") {
      if (parentIsDir === undefined) return // nothing below a missing directory to remove
      a.touchParent(parent)
      a.replace(abs)
      return
    }
    a.ensureDir(parent, h)
    a.replace(abs)
    if ((a.options.overlay?.whiteout ?? "device") === "xattr") {
      // rootless: user.* xattrs need write permission on the file (and a copy needs to read it)
      closeSync(openSync(abs, WRITE_FLAGS, a.rootless ? 0o600 : 0o000))
      a.xattrs.set(k, { path: abs, xattrs: new Map([[overlayWhiteoutXattr(a.ns), Buffer.from("y")]]) })
      const pk = key(parent)
      const px = a.xattrs.get(pk)?.xattrs ?? new Map<string, Buffer>()
      // overlayfs.rst: a directory holding xattr whiteouts is marked opaque "x" (unless it is opaque already).
      if (px.get(overlayOpaqueXattr(a.ns))?.toString() !== "y") px.set(overlayOpaqueXattr(a.ns), Buffer.from("x"))
      a.xattrs.set(pk, { path: a.root.abs(parent), xattrs: px })
    } else {
      const ok = mknod(a.root.root, abs, "char", 0, 0, 0)
      if (ok !== true) throw new Error(`cannot create the 0/0 whiteout device: ${ok}; use overlay.whiteout "xattr"`)
    }
  } catch (e) {
    a.fail(h, "applying the whiteout", e)
  }
}
