/**
 * Overlay-form copy-up. A layer extracted into its own directory for overlayfs sees only itself,
 * but its tar may hardlink to a file of a lower layer, and may create a directory a lower layer
 * already has. The first becomes a copy of the lower file in this layer (an overlay mount cannot
 * link across layers); the second takes the lower directory's mode, owner and times so that the
 * copy shadowing it does not change what the container sees (containerd's mkparent does the same).
 */
import { chmodSync, copyFileSync, lchownSync, lstatSync, mkdirSync, type Stats, utimesSync } from "node:fs"
import { cleanComponents, RootPath } from "./rootpath.js"

/** The topmost lower layer's directory at `comps`, if one has it (lowers: top first). */
export function lowerDir(lowers: readonly string[], comps: Buffer[]): Stats | undefined {
  for (const lower of lowers) {
    try {
      const st = lstatSync(new RootPath(lower).abs(comps))
      if (st.isDirectory()) return st
      return undefined // a file or whiteout above hides any deeper directory
    } catch {}
  }
  return undefined
}

/**
 * Copies the regular file a hardlink names from the topmost lower layer that has it to `dest`
 * (its parent must exist), with the lower file's mode, times and (when `chown`) owner.
 * Returns the copy's stats, or undefined when no lower layer has such a file.
 */
export function copyUpFile(lowers: readonly string[], linkpath: Buffer, dest: Buffer, chown: boolean, beforeCopy: () => void): Stats | undefined {
  const lc = cleanComponents(linkpath)
  for (const lower of lowers) {
    const lroot = new RootPath(lower)
    const resolved = lroot.resolve(lc.slice(0, -1), true, linkpath)
    const src = lroot.abs([...resolved, lc.at(-1)!])
    let st: Stats
    try {
      st = lstatSync(src)
    } catch {
      continue
    }
    if (!st.isFile()) continue
    beforeCopy()
    copyFileSync(src, dest)
    if (chown) lchownSync(dest, st.uid, st.gid)
    chmodSync(dest, st.mode & 0o7777)
    utimesSync(dest, st.atimeMs / 1000, st.mtimeMs / 1000)
    return lstatSync(dest)
  }
  return undefined
}

/**
 * Creates the missing directories of `parent` in `root`, each with the mode and (when `chown`)
 * owner of the topmost lower layer's directory at that path, else 0755. `created` is told of each
 * directory made, with the lower directory's stats whose times the caller restores at the end.
 */
export function makeParentsLikeLower(
  root: RootPath,
  lowers: readonly string[],
  parent: Buffer[],
  chown: boolean,
  created: (sub: Buffer[], abs: Buffer, lower: Stats | undefined) => void
) {
  for (let i = 1; i <= parent.length; i++) {
    const sub = parent.slice(0, i)
    if (root.isKnownDir(sub)) continue
    const abs = root.abs(sub)
    let present = false
    try {
      present = lstatSync(abs).isDirectory()
    } catch {}
    if (!present) {
      try {
        mkdirSync(abs, { mode: 0o755 })
        const st = lowerDir(lowers, sub)
        if (st !== undefined) {
          if (chown) lchownSync(abs, st.uid, st.gid)
          chmodSync(abs, st.mode & 0o7777)
        }
        created(sub, abs, st)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      }
    }
    root.knowDir(sub)
  }
}

/**
 * For a layer extracted with `overlay.lowersLater`, once its lowers exist: gives each directory
 * the layer made as a parent without an entry of its own (ApplyResult.implicitDirs) the mode,
 * owner (when `chown`) and times of the topmost lower layer's directory at that path, as the
 * extraction would have with the lowers at hand. One that no lower has keeps its 0755; one the
 * layer itself has replaced since (no longer a directory) is left alone.
 */
export function settleImplicitDirs(target: string, lowers: readonly string[], dirs: ReadonlyArray<Buffer[]>, chown: boolean): void {
  const root = new RootPath(target)
  for (const sub of dirs) {
    const st = lowerDir(lowers, sub)
    if (st === undefined) continue
    // every component a real directory (the layer may have put a symlink where a parent was):
    // nothing outside the target is touched
    if (!realDirs(root, sub)) continue
    const abs = root.abs(sub)
    if (chown) lchownSync(abs, st.uid, st.gid)
    chmodSync(abs, st.mode & 0o7777)
    utimesSync(abs, st.atimeMs / 1000, st.mtimeMs / 1000)
  }
}

/** Whether every prefix of `comps` below `root` is a directory, not a symlink to one. */
function realDirs(root: RootPath, comps: Buffer[]): boolean {
  for (let i = 1; i <= comps.length; i++) {
    try {
      if (!lstatSync(root.abs(comps.slice(0, i))).isDirectory()) return false
    } catch {
      return false
    }
  }
  return true
}
