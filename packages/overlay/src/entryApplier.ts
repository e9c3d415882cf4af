/**
 * The per-entry applier: what one tar entry does to the target directory (layer.md "Changesets"),
 * in flat form (whiteouts delete) or overlay form (whiteouts become overlayfs markers), with the
 * filesystem rules that keep every write inside the root (RootPath) and the metadata order that
 * keeps setuid bits and capabilities. The byte pipeline that feeds it is in apply.ts.
 */
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  type Stats,
  symlinkSync,
  unlinkSync
} from "node:fs"
import type { ApplyForm, ApplyOptions, ApplyWarning } from "./applyOptions.js"
import { copyUpFile, makeParentsLikeLower } from "./copyUp.js"
import { applyDevice } from "./deviceNodes.js"
import { ApplyEntryError, LowersNeededError, showPath, UnsafeEntryError } from "./errors.js"
import { rootlessOwnerXattr, withRootlessOwner } from "./rootless.js"
import { cleanComponents, RootPath } from "./rootpath.js"
import type { TarHeader } from "./tar/header.js"
import type { TarEntry } from "./tar/reader.js"
import { key, pathKey, paxTime, readUmask, setTimes, type Times, WRITE_FLAGS, writeAll } from "./entryIO.js"
import { defaultWriterThreads, FileWriterPool } from "./fileWriters.js"
import { setXattrs } from "./xattr.js"
import { classifyWhiteout, type OverlayXattrNamespace } from "./whiteout.js"
import { applyOpaque, applyWhiteout } from "./entryWhiteouts.js"

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code
const SLASH = Buffer.from("/")
/** Files a layer must have before it starts writer threads (their start costs some milliseconds). */
const WRITER_THRESHOLD = 256


/** One layer's application: the per-entry functions and what must happen after the last entry. */
// Public members beyond apply/finish/close/warnings are the applier's state and rules, shared
// with entryWhiteouts.ts and deviceNodes.ts; they are not part of the package's API.
export class LayerApplier {
  readonly warnings: ApplyWarning[] = []
  readonly root: RootPath
  readonly form: ApplyForm
  readonly rootless: boolean
  readonly ns: OverlayXattrNamespace
  /** paths this layer put in place: its own whiteouts never remove them (layer.md, "Whiteouts") */
  readonly added = new Set<string>()
  /** directories with a header in this layer: their times are set after all entries */
  private readonly dirTimes = new Map<string, Times>()
  /** lower directories this layer changed without a header of theirs: their times are restored */
  private readonly parentTimes = new Map<string, Times>()
  /** xattrs to set after the last entry, by path key */
  readonly xattrs = new Map<string, { path: Buffer; xattrs: Map<string, Buffer> }>()
  private readonly euid = process.geteuid?.() ?? 0
  private readonly egid = process.getegid?.() ?? 0
  /** the process umask (from /proc), or undefined when unknown: then modes are always set with fchmod */
  private readonly umask = readUmask()
  /** parent directory key -> its gid, for the directories files were created in since the last change of one */
  private readonly parentGids = new Map<string, number>()
  /** file-writer threads (fileWriters.ts), started once a layer has shown enough small files to pay for them */
  private writers: FileWriterPool | undefined
  private readonly writerThreads: number
  private smallFiles = 0
  /** the last parent touchParent() found in parentTimes, dirTimes or added */
  private touched: string | undefined
  /** overlay.lowersLater: parents made without an entry of their own, by key, for settleImplicitDirs */
  private readonly laterDirs: Map<string, Buffer[]> | undefined

  constructor(
    target: string,
      readonly options: ApplyOptions
  ) {
    this.root = new RootPath(target)
    this.form = options.form ?? "flat"
    this.rootless = options.rootless ?? this.euid !== 0
    this.ns = options.overlay?.xattrNamespace ?? (this.rootless ? "user" : "trusted")
    this.writerThreads = options.writerThreads ?? defaultWriterThreads()
    if (this.form === "overlay" && options.overlay?.lowersLater === true) this.laterDirs = new Map()
  }

  fail(h: TarHeader, operation: string, e: unknown): never {
    // Typed failures (tar, decompression, safety) pass through; only raw fs errors are wrapped.
    if (typeof e === "object" && e !== null && "_tag" in e) throw e
    throw new ApplyEntryError({ path: showPath(h.path), operation, reason: (e as Error).message })
  }

  async apply(entry: TarEntry) {
    const h = entry.header
    const clean = cleanComponents(h.path)
    // the path's key and its parent's, built once per entry (components never hold a "/")
    const lexicalKey = pathKey(h.path, clean)
    const lexicalParentKey = lexicalKey.slice(0, Math.max(0, lexicalKey.lastIndexOf("/")))
    if (this.writers !== undefined && this.writers.size > 0 && this.mustDrain(h, clean, lexicalKey, lexicalParentKey)) await this.drain()
    const base = clean.at(-1)
    if (base !== undefined && base.length >= 4 && base[0] === 0x2e && base[1] === 0x77 && base[2] === 0x68 && base[3] === 0x2e) {
      const kind = classifyWhiteout(base)
      await entry.skip()
      if (kind.kind === "opaque") return applyOpaque(this, h)
      if (kind.kind === "whiteout") return applyWhiteout(this, h, kind.target)
      if (kind.kind === "reserved") {
        this.warnings.push({ path: showPath(h.path), reason: "reserved whiteout name (.wh..wh.*) ignored" })
        return
      }
    }
    const { parent, parentKey, name } = this.root.entryOf(clean, lexicalParentKey, h.path)
    if (name === undefined) {
      await entry.skip()
      if (h.type !== "directory") throw new UnsafeEntryError({ path: showPath(h.path), reason: `the root can only be a directory, not a ${h.type}` })
      return this.metadata(h, this.root.root, [], undefined)
    }
    this.ensureDir(parent, h, parentKey)
    const comps = [...parent, name]
    const abs = this.root.abs(comps)
    // one flat string, as a Set key it is held for the layer: a `${parentKey}/${name}` rope held
    // both parts, and 50,000 of them took 25 MB more peak RSS on the small-file layer
    const k = key(comps)
    this.touchParent(parent, parentKey)
    if (this.xattrs.size > 0) this.xattrs.delete(k) // a replaced entry's pending xattrs go with it
    try {
      switch (h.type) {
        case "directory":
          await entry.skip()
          this.directory(abs, comps)
          break
        case "file":
          await this.file(entry, abs, comps, k, parentKey)
          break
        case "symlink":
          await entry.skip()
          this.replace(abs)
          symlinkSync(h.linkpath, abs)
          break
        case "hardlink":
          await entry.skip()
          this.hardlink(h, abs, comps)
          this.added.add(k)
          return // the inode keeps its own metadata
        default:
          await entry.skip()
          if (!applyDevice(this, h, abs)) return
      }
    } catch (e) {
      this.fail(h, `creating the ${h.type}`, e)
    }
    this.added.add(k)
    if (h.type !== "file") this.metadata(h, abs, comps, undefined)
  }

  /**
   * Create missing parent directories below the root: 0755 root-owned as umoci's MkdirAll, except
   * in overlay form, where a parent that a lower layer has is created with that directory's mode,
   * owner and times — this layer's copy shadows the lower one in the mount, and must not change
   * what the container sees (containerd's mkparent does the same).
   */
  ensureDir(parent: Buffer[], h: TarHeader, parentKey = key(parent)) {
    if (this.root.isKnownDirKey(parentKey)) return
    if (this.form === "overlay" && (this.lowers.length > 0 || this.laterDirs !== undefined)) {
      try {
        makeParentsLikeLower(this.root, this.lowers, parent, !this.rootless, (sub, abs, st) => {
          this.parentGids.clear()
          if (st !== undefined) this.parentTimes.set(key(sub), { abs, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 })
          this.laterDirs?.set(key(sub), sub)
        })
      } catch (e) {
        this.fail(h, "creating parent directories", e)
      }
      return
    }
    try {
      mkdirSync(this.root.abs(parent), { recursive: true, mode: 0o755 })
    } catch (e) {
      this.fail(h, "creating parent directories", e)
    }
    this.root.knowDir(parent)
  }

  /** After anything under the root was removed or replaced: verified directories and their gids are stale. */
  forget() {
    this.root.forget()
    this.parentGids.clear()
  }

  /** Keep a lower directory's times so that adding or removing children does not change them. */
  touchParent(parent: Buffer[], k = key(parent)) {
    // entries come directory by directory; a key once in these sets never leaves them
    if (k === this.touched) return
    if (this.parentTimes.has(k) || this.dirTimes.has(k) || this.added.has(k)) {
      this.touched = k
      return
    }
    const abs = this.root.abs(parent)
    try {
      const st = lstatSync(abs)
      this.parentTimes.set(k, { abs, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 })
      this.touched = k
    } catch {}
  }

  /** Remove whatever is at `abs` (not following symlinks) so a non-directory can take its place. */
  replace(abs: Buffer) {
    let st: Stats
    try {
      st = lstatSync(abs)
    } catch (e) {
      if (errno(e) === "ENOENT") return
      throw e
    }
    if (st.isDirectory()) {
      rmSync(abs, { recursive: true, force: true })
      this.forget()
    } else unlinkSync(abs)
  }

  private directory(abs: Buffer, comps: Buffer[]) {
    try {
      mkdirSync(abs, 0o700)
    } catch (e) {
      if (errno(e) !== "EEXIST") throw e
      // An existing directory is merged with; anything else is replaced (layer.md, "Changesets").
      if (!lstatSync(abs).isDirectory()) {
        unlinkSync(abs)
        mkdirSync(abs, 0o700)
      }
    }
    this.root.knowDir(comps)
  }

  /** `k` is the key of `comps`, `parentKey` the key of its parent. */
  private async file(entry: TarEntry, abs: Buffer, comps: Buffer[], k: string, parentKey: string) {
    const h = entry.header
    // The common case (owner = the process's, mode within the umask) is created with its final owner
    // and mode: open + write + futimes + close, no fchown/fchmod. Otherwise created 0600 and set after.
    const direct = this.createsFinal(h, comps, parentKey)
    // A body already in the reader's buffer is written without an await (small files).
    const whole = entry.bodySync()
    // (a name this layer made a directory stays here: replacing it must happen before its children)
    if (direct && whole !== undefined && !this.root.isKnownDirKey(k)) {
      const pool = this.writerPool()
      if (pool !== undefined) {
        const full = pool.write(k, parentKey, abs, h.mode, paxTime(h, "atime") ?? h.mtime, h.mtime, whole)
        if (full !== undefined) await full
        return
      }
    }
    const createMode = direct ? h.mode : 0o600
    let fd: number
    try {
      fd = openSync(abs, WRITE_FLAGS, createMode)
    } catch (e) {
      if (errno(e) !== "EEXIST") throw e
      // what is in the way may be a directory with files still queued below it
      if (this.writers !== undefined && this.writers.size > 0) await this.drain()
      this.replace(abs)
      fd = openSync(abs, WRITE_FLAGS, createMode)
    }
    try {
      if (whole !== undefined) writeAll(fd, whole)
      else for await (const chunk of entry.body) writeAll(fd, chunk)
      if (direct) this.finalTimes(h, fd)
      else this.metadata(h, abs, comps, fd)
    } finally {
      closeSync(fd)
    }
  }

  /** The writer threads, once this layer has had WRITER_THRESHOLD files they could take (none when writerThreads is 0). */
  private writerPool(): FileWriterPool | undefined {
    if (this.writers === undefined && this.writerThreads > 0 && ++this.smallFiles >= WRITER_THRESHOLD) this.writers = new FileWriterPool(this.writerThreads)
    return this.writers
  }

  /**
   * Whether an entry could meet a file still in a writer thread's queue, so that all of them must be
   * written first: anything but a file or directory (links, whiteouts, devices, symlinks), an entry
   * whose own name is queued, or one whose parent directory is not known to be a directory (which a
   * queued file could be).
   */
  private mustDrain(h: TarHeader, clean: Buffer[], cleanKey: string, parentKey: string): boolean {
    if (h.type !== "file" && h.type !== "directory") return true
    const base = clean.at(-1)
    if (base === undefined || (base.length >= 4 && base[0] === 0x2e && base[1] === 0x77 && base[2] === 0x68 && base[3] === 0x2e)) return true
    return !this.root.isKnownDirKey(parentKey) || this.writers!.isPending(cleanKey)
  }

  /** Waits for the writer threads; creates here, in order, what they could not (a directory was in the way). */
  private async drain() {
    const failures = await this.writers!.drain()
    for (const f of failures) {
      const path = showPath(f.path.subarray(this.root.root.length + 1))
      if (f.code !== "EEXIST") throw new ApplyEntryError({ path, operation: "creating the file", reason: f.message })
      try {
        this.replace(f.path)
        const fd = openSync(f.path, WRITE_FLAGS, f.mode)
        try {
          writeAll(fd, f.data)
          futimesSync(fd, f.atime, f.mtime)
        } finally {
          closeSync(fd)
        }
      } catch (e) {
        throw new ApplyEntryError({ path, operation: "creating the file", reason: (e as Error).message })
      }
    }
  }

  /** Stops the writer threads; after it resolves, nothing more is written (also after a failure). */
  async close() {
    await this.writers?.close()
  }

  /**
   * Whether a file created now with mode `h.mode` gets its owner and mode with no further call: no
   * xattrs, no setuid/setgid/sticky bit, no mode bit the umask would clear, and (unless rootless) the
   * tar's uid/gid are the process's and the parent directory's gid is the process's (so neither a
   * setgid parent nor a grpid mount gives the file another group). The parent's gid is looked up once
   * per directory and forgotten whenever a directory's owner or mode may change.
   */
  private createsFinal(h: TarHeader, comps: Buffer[], pk: string): boolean {
    if (this.umask === undefined || (h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0 || h.xattrs.size > 0) return false
    if (this.rootless) return rootlessOwnerXattr(h.uid, h.gid).length === 0
    if (h.uid !== this.euid || h.gid !== this.egid) return false
    let gid = this.parentGids.get(pk)
    if (gid === undefined) {
      try {
        gid = lstatSync(this.root.abs(comps.slice(0, -1))).gid
      } catch {
        return false
      }
      this.parentGids.set(pk, gid)
    }
    return gid === this.egid
  }

  /** What metadata() does for a file created with its final owner and mode: its times. */
  private finalTimes(h: TarHeader, fd: number) {
    try {
      futimesSync(fd, paxTime(h, "atime") ?? h.mtime, h.mtime)
    } catch (e) {
      this.fail(h, "setting metadata", e)
    }
  }

  private hardlink(h: TarHeader, abs: Buffer, comps: Buffer[]) {
    // The target's directory is resolved inside the root; its last component is not followed (umoci).
    const lc = cleanComponents(h.linkpath)
    if (lc.length === 0) throw new UnsafeEntryError({ path: showPath(h.path), reason: "hardlink to the root directory" })
    const lparent = this.root.resolve(lc.slice(0, -1), true, h.path)
    const linkAbs = this.root.abs([...lparent, lc.at(-1)!])
    let st: Stats | undefined
    try {
      st = lstatSync(linkAbs)
    } catch {}
    if (st === undefined && this.laterDirs !== undefined) throw new LowersNeededError({ path: showPath(h.path), linkpath: showPath(h.linkpath) })
    if (st === undefined && this.form === "overlay") {
      st = this.copyFromLower(h, [...lparent, lc.at(-1)!], linkAbs)
    }
    if (st === undefined) throw new UnsafeEntryError({ path: showPath(h.path), reason: `hardlink target ${showPath(h.linkpath)} does not exist in the tree` })
    if (st.isDirectory()) throw new UnsafeEntryError({ path: showPath(h.path), reason: `hardlink target ${showPath(h.linkpath)} is a directory` })
    if (key(comps) === key([...lparent, lc.at(-1)!])) return // a link to itself: already there
    this.replace(abs)
    linkSync(linkAbs, abs)
  }

  private get lowers(): readonly string[] {
    return this.options.overlay?.lowers ?? []
  }

  /** Overlay form: a hardlink to a file of a lower layer becomes a copy of it in this layer. */
  private copyFromLower(h: TarHeader, comps: Buffer[], dest: Buffer) {
    const st = copyUpFile(this.lowers, h.linkpath, dest, !this.rootless, () => this.ensureDir(comps.slice(0, -1), h))
    if (st !== undefined) this.added.add(key(comps))
    return st
  }

  /** Owner, mode, times, xattrs, in the order that keeps setuid bits and capabilities (chown clears both). */
  private metadata(h: TarHeader, abs: Buffer, comps: Buffer[], fd: number | undefined) {
    if (h.type === "directory" && this.parentGids.size > 0) this.parentGids.clear()
    try {
      const xattrs = this.rootless ? withRootlessOwner(h.xattrs, h.uid, h.gid) : h.xattrs
      if (!this.rootless) {
        if (fd !== undefined) fchownSync(fd, h.uid, h.gid)
        else lchownSync(abs, h.uid, h.gid)
      }
      if (h.type !== "symlink") {
        if (fd !== undefined) fchmodSync(fd, h.mode)
        else chmodSync(abs, h.mode)
      }
      const atime = paxTime(h, "atime") ?? h.mtime
      if (h.type === "directory") this.dirTimes.set(key(comps), { abs, atime, mtime: h.mtime })
      else if (fd !== undefined) futimesSync(fd, atime, h.mtime)
      else lutimesSync(abs, atime, h.mtime)
      if (xattrs.size > 0) this.xattrs.set(key(comps), { path: abs, xattrs: new Map(xattrs) })
    } catch (e) {
      this.fail(h, "setting metadata", e)
    }
  }

  /**
   * overlay.lowersLater: the parents made without an entry of their own that are still such
   * (a later directory entry of the layer gave one its own metadata), parents first.
   */
  implicitDirs(): Buffer[][] | undefined {
    if (this.laterDirs === undefined) return undefined
    return [...this.laterDirs].filter(([k]) => !this.dirTimes.has(k)).map(([, comps]) => comps)
  }

  /**
   * Whether the path of key `k` is a real directory now, and so is every directory above it up
   * to the root (memoized for one finish()). The writes deferred to the end of a layer (xattrs,
   * directory times) go by the paths recorded when their entries came; a later entry may have put
   * a symlink where one of those directories was (x/y/f, then x -> /etc), and a write through it
   * would land outside the root.
   */
  private isRealDir(k: string, seen: Map<string, boolean>): boolean {
    if (k === "") return true
    let real = seen.get(k)
    if (real !== undefined) return real
    const slash = k.lastIndexOf("/")
    real = this.isRealDir(slash < 0 ? "" : k.slice(0, slash), seen)
    if (real) {
      try {
        real = lstatSync(Buffer.concat([this.root.root, SLASH, Buffer.from(k, "latin1")])).isDirectory()
      } catch {
        real = false
      }
    }
    seen.set(k, real)
    return real
  }

  /** After the last entry: xattrs (one setfattr run), then directory times, deepest last written. */
  async finish() {
    if (this.writers !== undefined) await this.drain()
    // xattrs and times only through directories that are still real: a symlink a later entry put
    // where one was is never followed (an xattr's own path is not followed either: setfattr -h)
    const seen = new Map<string, boolean>()
    const parentOf = (k: string) => k.slice(0, Math.max(0, k.lastIndexOf("/")))
    const failures = setXattrs([...this.xattrs].filter(([k]) => this.isRealDir(parentOf(k), seen)).map(([, x]) => x))
    if (failures.length > 0) {
      if (!this.rootless) throw new ApplyEntryError({ path: "(xattrs)", operation: "setfattr", reason: failures.join("; ") })
      for (const f of failures) this.warnings.push({ path: "(xattrs)", reason: f })
    }
    for (const [k, t] of this.parentTimes) if (!this.dirTimes.has(k) && this.isRealDir(k, seen)) setTimes(t)
    for (const [k, t] of this.dirTimes) if (this.isRealDir(k, seen)) setTimes(t)
  }
}
