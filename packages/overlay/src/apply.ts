import { spawnSync } from "node:child_process"
import {
  closeSync,
  constants,
  createReadStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  chmodSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
  type Stats,
  copyFileSync
} from "node:fs"
import { type Algorithm, createHasher, type Digest, digestAlgorithm, type HasherBackend, OFF_THREAD_MIN_BYTES, OffThreadHasher } from "@cairn/digest"
import * as Effect from "effect/Effect"
import { type Compression, decompress, type ZstdDecoder } from "./compression.js"
import { ApplyEntryError, DiffIdMismatchError, LayerDigestMismatchError, showPath, UnsafeEntryError } from "./errors.js"
import { cleanComponents, RootPath } from "./rootpath.js"
import type { TarHeader } from "./tar/header.js"
import { readTar, type TarEntry } from "./tar/reader.js"
import { classifyWhiteout, type OverlayXattrNamespace, overlayOpaqueXattr, overlayWhiteoutXattr, ROOTLESS_XATTR } from "./whiteout.js"
import { setXattrs } from "./xattr.js"

/** Where a layer goes: merged with the layers below ("flat") or into its own directory for overlayfs ("overlay"). */
export type ApplyForm = "flat" | "overlay"

export interface OverlayFormOptions {
  /** xattr namespace for opaque/whiteout markers: "trusted" (root) or "user" (rootless mounts with `userxattr`) */
  xattrNamespace?: OverlayXattrNamespace
  /** whiteouts as 0/0 character devices (default) or as empty files with the `overlay.whiteout` xattr (Linux >= 6.7) */
  whiteout?: "device" | "xattr"
  /** extracted lower layers, top first: where hardlinks to files of lower layers are copied from */
  lowers?: readonly string[]
}

export interface ApplyOptions {
  /** "flat" (default): whiteouts delete; "overlay": whiteouts become overlayfs markers */
  form?: ApplyForm
  overlay?: OverlayFormOptions
  /** fail with DiffIdMismatchError unless the tar hashes to this */
  expectedDiffId?: Digest
  /** fail with LayerDigestMismatchError unless the compressed bytes hash to this */
  expectedDigest?: Digest
  /** also compute the digest of the compressed bytes (implied by expectedDigest) */
  computeDigest?: boolean
  /** hash backend (default: @cairn/digest's WASM core) */
  hasher?: HasherBackend
  /**
   * hash on worker threads, one per digest, beside decompression and writes (DESIGN.md "The hot
   * path"; @cairn/digest's OffThreadHasher). Default: on for a layer file of at least 16 MiB, where
   * it pays for the workers' start; off for streams and small files.
   */
  hashOffThread?: boolean
  /** don't chown; keep owners in the `user.rootlesscontainers` xattr as umoci does; skip device nodes. Default: not running as root */
  rootless?: boolean
  zstd?: ZstdDecoder
}

export interface ApplyWarning {
  path: string
  reason: string
}

export interface ApplyResult {
  diffId: Digest
  /** digest of the bytes as given (compressed), when asked for */
  digest?: Digest
  compression: Compression
  /** bytes read from the source (the blob size) */
  size: number
  /** bytes of the uncompressed tar */
  tarSize: number
  entries: number
  warnings: ApplyWarning[]
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
const SLASH = Buffer.from("/")
const key = (components: readonly Buffer[]) => components.map((c) => c.toString("latin1")).join("/")
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code

/** umoci's rootlesscontainers.proto Resource message: uid = field 1, gid = field 2, varints, zero omitted. */
export function rootlessOwnerXattr(uid: number, gid: number): Buffer {
  const out: number[] = []
  const varint = (v: number) => {
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80)
      v = Math.floor(v / 128)
    }
    out.push(v)
  }
  if (uid !== 0) {
    out.push(0x08)
    varint(uid)
  }
  if (gid !== 0) {
    out.push(0x10)
    varint(gid)
  }
  return Buffer.from(out)
}

const toSource = (s: AsyncIterable<Uint8Array> | string): AsyncIterable<Uint8Array> =>
  typeof s === "string" ? createReadStream(s, { highWaterMark: 1 << 20 }) : s

/**
 * Apply one OCI layer (image-spec layer.md) to `target`, streaming: source bytes -> digest ->
 * decompress -> diffID -> tar -> filesystem. Writes go straight into `target`; a caller that must
 * not expose a half-applied or unverified layer extracts into a temporary directory and renames it.
 */
export async function applyLayer(
  source: AsyncIterable<Uint8Array> | string,
  target: string,
  options: ApplyOptions = {}
): Promise<ApplyResult> {
  const wantDigest = options.computeDigest === true || options.expectedDigest !== undefined
  const tarAlg = options.expectedDiffId ? digestAlgorithm(options.expectedDiffId) : "sha256"
  const blobAlg = options.expectedDigest ? digestAlgorithm(options.expectedDigest) : "sha256"
  // Hashing on the calling thread, or each digest on its own worker (the two chains run at once).
  const offThread = options.hashOffThread ?? offThreadByDefault(source)
  const workers: OffThreadHasher[] = []
  const startWorker = async (alg: Algorithm) => {
    const w = await OffThreadHasher.start(alg, options.hasher)
    workers.push(w)
    return w
  }
  try {
    const [offTar, offBlob] = offThread ? await Promise.all([startWorker(tarAlg), wantDigest ? startWorker(blobAlg) : undefined]) : []
    const blobHasher = wantDigest && !offBlob ? await createHasher(blobAlg, options.hasher) : undefined
    const tarHasher = offTar ? undefined : await createHasher(tarAlg, options.hasher)
    let size = 0
    let hashBlob = wantDigest
    async function* counted() {
      for await (const c of toSource(source)) {
        size += c.byteLength
        if (hashBlob) {
          if (offBlob) await offBlob.update(c)
          else blobHasher!.update(c)
        }
        yield c
      }
    }
    const { compression, data } = await decompress(counted(), options.zstd === undefined ? {} : { zstd: options.zstd })
    // A plain tar is its own blob: hash it once, as the diffID (when both use one algorithm).
    const blobIsTar = wantDigest && compression === "none" && blobAlg === tarAlg
    if (blobIsTar) hashBlob = false
    async function* hashedTar() {
      for await (const c of data) {
        if (offTar) await offTar.update(c)
        else tarHasher!.update(c)
        yield c
      }
    }
    mkdirSync(target, { recursive: true })
    const applier = new LayerApplier(target, options)
    let entries = 0
    for await (const entry of readTar(hashedTar())) {
      await applier.apply(entry)
      entries++
    }
    applier.finish()
    let diffId: Digest
    let tarSize: number
    if (offTar) {
      diffId = await offTar.digest()
      tarSize = offTar.bytes
    } else {
      diffId = tarHasher!.digest()
      tarSize = tarHasher!.bytes
    }
    let digest: Digest | undefined
    if (blobIsTar) digest = diffId
    else if (offBlob) digest = await offBlob.digest()
    else digest = blobHasher?.digest()
    if (options.expectedDigest !== undefined && digest !== options.expectedDigest)
      throw new LayerDigestMismatchError({ expected: options.expectedDigest, actual: digest!, bytes: size })
    if (options.expectedDiffId !== undefined && diffId !== options.expectedDiffId)
      throw new DiffIdMismatchError({ expected: options.expectedDiffId, actual: diffId })
    const result: ApplyResult = { diffId, compression, size, tarSize, entries, warnings: applier.warnings }
    if (digest !== undefined) result.digest = digest
    return result
  } finally {
    await Promise.all(workers.map((w) => w.close()))
  }
}

/** Layers at least this big hash on workers by default (@cairn/digest's threshold). */
export { OFF_THREAD_MIN_BYTES }

/** Off-thread hashing by default for big layer files; callers streaming a blob of known size pass hashOffThread themselves. */
function offThreadByDefault(source: AsyncIterable<Uint8Array> | string): boolean {
  if (typeof source !== "string") return false
  try {
    return statSync(source).size >= OFF_THREAD_MIN_BYTES
  } catch {
    return false
  }
}

/** Apply layers bottom first into one directory (what `umoci raw unpack` produces). */
export async function applyLayers(
  sources: ReadonlyArray<AsyncIterable<Uint8Array> | string>,
  target: string,
  options: Omit<ApplyOptions, "expectedDiffId" | "expectedDigest" | "form"> & { expectedDiffIds?: readonly Digest[] } = {}
): Promise<ApplyResult[]> {
  const out: ApplyResult[] = []
  for (const [i, s] of sources.entries()) {
    const { expectedDiffIds, ...rest } = options
    const exp = expectedDiffIds?.[i]
    out.push(await applyLayer(s, target, exp === undefined ? rest : { ...rest, expectedDiffId: exp }))
  }
  return out
}

/** Effect form of applyLayer: the typed failures in the error channel. */
export const applyLayerEffect = (
  source: AsyncIterable<Uint8Array> | string,
  target: string,
  options: ApplyOptions = {}
): Effect.Effect<ApplyResult, ApplyLayerError> =>
  Effect.tryPromise({
    try: () => applyLayer(source, target, options),
    // Typed failures keep their tag; anything else (an I/O error of the source, say) is wrapped.
    catch: (e) =>
      typeof e === "object" && e !== null && "_tag" in e
        ? (e as ApplyLayerError)
        : new ApplyEntryError({ path: target, operation: "applying the layer", reason: e instanceof Error ? e.message : String(e) })
  })

export type ApplyLayerError =
  | import("./errors.js").TarChecksumError
  | import("./errors.js").TarTruncatedError
  | import("./errors.js").TarFormatError
  | import("./errors.js").DecompressionError
  | UnsafeEntryError
  | ApplyEntryError
  | DiffIdMismatchError
  | LayerDigestMismatchError

interface Times {
  abs: Buffer
  atime: number
  mtime: number
}

/** One layer's application: the per-entry functions and what must happen after the last entry. */
class LayerApplier {
  readonly warnings: ApplyWarning[] = []
  private readonly root: RootPath
  private readonly form: ApplyForm
  private readonly rootless: boolean
  private readonly ns: OverlayXattrNamespace
  /** paths this layer put in place: its own whiteouts never remove them (layer.md, "Whiteouts") */
  private readonly added = new Set<string>()
  /** directories with a header in this layer: their times are set after all entries */
  private readonly dirTimes = new Map<string, Times>()
  /** lower directories this layer changed without a header of theirs: their times are restored */
  private readonly parentTimes = new Map<string, Times>()
  private readonly xattrs = new Map<string, { path: Buffer; xattrs: Map<string, Buffer> }>()
  private readonly euid = process.geteuid?.() ?? 0
  private readonly egid = process.getegid?.() ?? 0
  /** the process umask (from /proc), or undefined when unknown: then modes are always set with fchmod */
  private readonly umask = readUmask()
  /** parent directory key -> its gid, for the directories files were created in since the last change of one */
  private readonly parentGids = new Map<string, number>()

  constructor(target: string, private readonly options: ApplyOptions) {
    this.root = new RootPath(target)
    this.form = options.form ?? "flat"
    this.rootless = options.rootless ?? this.euid !== 0
    this.ns = options.overlay?.xattrNamespace ?? (this.rootless ? "user" : "trusted")
  }

  private fail(h: TarHeader, operation: string, e: unknown): never {
    // Typed failures (tar, decompression, safety) pass through; only raw fs errors are wrapped.
    if (typeof e === "object" && e !== null && "_tag" in e) throw e
    throw new ApplyEntryError({ path: showPath(h.path), operation, reason: (e as Error).message })
  }

  async apply(entry: TarEntry) {
    const h = entry.header
    const base = cleanComponents(h.path).at(-1)
    if (base !== undefined && base.length >= 4 && base[0] === 0x2e && base[1] === 0x77 && base[2] === 0x68 && base[3] === 0x2e) {
      const kind = classifyWhiteout(base)
      await entry.skip()
      if (kind.kind === "opaque") return this.opaque(h)
      if (kind.kind === "whiteout") return this.whiteout(h, kind.target)
      if (kind.kind === "reserved") {
        this.warnings.push({ path: showPath(h.path), reason: "reserved whiteout name (.wh..wh.*) ignored" })
        return
      }
    }
    const { parent, name } = this.root.entry(h.path)
    if (name === undefined) {
      await entry.skip()
      if (h.type !== "directory") throw new UnsafeEntryError({ path: showPath(h.path), reason: `the root can only be a directory, not a ${h.type}` })
      return this.metadata(h, this.root.root, [], undefined)
    }
    this.ensureDir(parent, h)
    const comps = [...parent, name]
    const abs = this.root.abs(comps)
    const k = key(comps)
    this.touchParent(parent)
    if (this.xattrs.size > 0) this.xattrs.delete(k) // a replaced entry's pending xattrs go with it
    try {
      switch (h.type) {
        case "directory":
          await entry.skip()
          this.directory(abs, comps)
          break
        case "file":
          await this.file(entry, abs, comps)
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
          if (!this.device(h, abs)) return
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
  private ensureDir(parent: Buffer[], h: TarHeader) {
    if (this.root.isKnownDir(parent)) return
    if (this.form === "overlay" && (this.options.overlay?.lowers?.length ?? 0) > 0) {
      for (let i = 1; i <= parent.length; i++) {
        const sub = parent.slice(0, i)
        if (this.root.isKnownDir(sub)) continue
        const abs = this.root.abs(sub)
        let present = false
        try {
          present = lstatSync(abs).isDirectory()
        } catch {}
        if (!present) {
          try {
            mkdirSync(abs, { mode: 0o755 })
            this.parentGids.clear()
            const st = this.lowerDir(sub)
            if (st !== undefined) {
              if (!this.rootless) lchownSync(abs, st.uid, st.gid)
              chmodSync(abs, st.mode & 0o7777)
              this.parentTimes.set(key(sub), { abs, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 })
            }
          } catch (e) {
            if (errno(e) !== "EEXIST") this.fail(h, "creating parent directories", e)
          }
        }
        this.root.knowDir(sub)
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
  private forget() {
    this.root.forget()
    this.parentGids.clear()
  }

  /** Keep a lower directory's times so that adding or removing children does not change them. */
  private touchParent(parent: Buffer[]) {
    const k = key(parent)
    if (this.parentTimes.has(k) || this.dirTimes.has(k) || this.added.has(k)) return
    const abs = this.root.abs(parent)
    try {
      const st = lstatSync(abs)
      this.parentTimes.set(k, { abs, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 })
    } catch {}
  }

  /** Remove whatever is at `abs` (not following symlinks) so a non-directory can take its place. */
  private replace(abs: Buffer) {
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

  private async file(entry: TarEntry, abs: Buffer, comps: Buffer[]) {
    const h = entry.header
    // The common case (owner = the process's, mode within the umask) is created with its final owner
    // and mode: open + write + futimes + close, no fchown/fchmod. Otherwise created 0600 and set after.
    const direct = this.createsFinal(h, comps)
    const createMode = direct ? h.mode : 0o600
    let fd: number
    try {
      fd = openSync(abs, WRITE_FLAGS, createMode)
    } catch (e) {
      if (errno(e) !== "EEXIST") throw e
      this.replace(abs)
      fd = openSync(abs, WRITE_FLAGS, createMode)
    }
    try {
      // A body already in the reader's buffer is written without an await (small files).
      const whole = entry.bodySync()
      if (whole !== undefined) writeAll(fd, whole)
      else for await (const chunk of entry.body) writeAll(fd, chunk)
      if (direct) this.finalTimes(h, fd)
      else this.metadata(h, abs, comps, fd)
    } finally {
      closeSync(fd)
    }
  }

  /**
   * Whether a file created now with mode `h.mode` gets its owner and mode with no further call: no
   * xattrs, no setuid/setgid/sticky bit, no mode bit the umask would clear, and (unless rootless) the
   * tar's uid/gid are the process's and the parent directory's gid is the process's (so neither a
   * setgid parent nor a grpid mount gives the file another group). The parent's gid is looked up once
   * per directory and forgotten whenever a directory's owner or mode may change.
   */
  private createsFinal(h: TarHeader, comps: Buffer[]): boolean {
    if (this.umask === undefined || (h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0 || h.xattrs.size > 0) return false
    if (this.rootless) return rootlessOwnerXattr(h.uid, h.gid).length === 0
    if (h.uid !== this.euid || h.gid !== this.egid) return false
    const pk = key(comps.slice(0, -1))
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
    if (st === undefined && this.form === "overlay") {
      st = this.copyFromLower(h, [...lparent, lc.at(-1)!], linkAbs)
    }
    if (st === undefined) throw new UnsafeEntryError({ path: showPath(h.path), reason: `hardlink target ${showPath(h.linkpath)} does not exist in the tree` })
    if (st.isDirectory()) throw new UnsafeEntryError({ path: showPath(h.path), reason: `hardlink target ${showPath(h.linkpath)} is a directory` })
    if (key(comps) === key([...lparent, lc.at(-1)!])) return // a link to itself: already there
    this.replace(abs)
    linkSync(linkAbs, abs)
  }

  /** The topmost lower layer's directory at `comps` (overlay form), if one has it. */
  private lowerDir(comps: Buffer[]): Stats | undefined {
    for (const lower of this.options.overlay?.lowers ?? []) {
      try {
        const st = lstatSync(new RootPath(lower).abs(comps))
        if (st.isDirectory()) return st
        return undefined // a file or whiteout above hides any deeper directory
      } catch {}
    }
    return undefined
  }

  /** Overlay form: a hardlink to a file of a lower layer becomes a copy of it in this layer. */
  private copyFromLower(h: TarHeader, comps: Buffer[], dest: Buffer) {
    for (const lower of this.options.overlay?.lowers ?? []) {
      const lroot = new RootPath(lower)
      const resolved = lroot.resolve(cleanComponents(h.linkpath).slice(0, -1), true, h.linkpath)
      const src = lroot.abs([...resolved, comps.at(-1)!])
      let st: Stats
      try {
        st = lstatSync(src)
      } catch {
        continue
      }
      if (!st.isFile()) continue
      this.ensureDir(comps.slice(0, -1), h)
      copyFileSync(src, dest)
      fchownAndMode(dest, st, !this.rootless)
      this.added.add(key(comps))
      return lstatSync(dest)
    }
    return undefined
  }

  /** Character/block devices and FIFOs via mknod(1); false when skipped with a warning. */
  private device(h: TarHeader, abs: Buffer): boolean {
    if (this.rootless && (h.type === "char" || h.type === "block")) {
      this.warnings.push({ path: showPath(h.path), reason: `${h.type} device ${h.devmajor}:${h.devminor} skipped: device nodes need root` })
      return false
    }
    this.replace(abs)
    const ok = mknod(this.root.root, abs, h.type as "char" | "block" | "fifo", h.mode, h.devmajor, h.devminor)
    if (ok !== true) {
      this.warnings.push({ path: showPath(h.path), reason: `${h.type} not created: ${ok}` })
      return false
    }
    return true
  }

  /** Owner, mode, times, xattrs, in the order that keeps setuid bits and capabilities (chown clears both). */
  private metadata(h: TarHeader, abs: Buffer, comps: Buffer[], fd: number | undefined) {
    if (h.type === "directory" && this.parentGids.size > 0) this.parentGids.clear()
    try {
      let xattrs = h.xattrs
      if (this.rootless) {
        const owner = rootlessOwnerXattr(h.uid, h.gid)
        if (owner.length > 0) {
          xattrs = new Map(h.xattrs)
          xattrs.set(ROOTLESS_XATTR, owner)
        }
      } else if (fd !== undefined) fchownSync(fd, h.uid, h.gid)
      else lchownSync(abs, h.uid, h.gid)
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

  private opaque(h: TarHeader) {
    const { parent, name } = this.root.entry(h.path)
    if (name === undefined) throw new UnsafeEntryError({ path: showPath(h.path), reason: "opaque marker without a directory" })
    this.ensureDir(parent, h)
    if (this.form === "overlay") {
      const k = key(parent)
      const cur = this.xattrs.get(k)
      const x = cur?.xattrs ?? new Map<string, Buffer>()
      x.set(overlayOpaqueXattr(this.ns), Buffer.from("y"))
      this.xattrs.set(k, { path: this.root.abs(parent), xattrs: x })
      return
    }
    this.touchParent(parent)
    this.removeLower(parent)
    this.forget()
  }

  /** Opaque directory, flat form: remove every child the lower layers put there, keep this layer's. */
  private removeLower(dir: Buffer[]) {
    const abs = this.root.abs(dir)
    for (const d of readdirSync(abs, { encoding: "buffer", withFileTypes: true })) {
      const comps = [...dir, d.name as unknown as Buffer]
      if (this.added.has(key(comps))) {
        if (d.isDirectory()) this.removeLower(comps)
        continue
      }
      rmSync(Buffer.concat([abs, SLASH, d.name as unknown as Buffer]), { recursive: true, force: true })
    }
  }

  private whiteout(h: TarHeader, target: Buffer) {
    if (target.length === 0 || (target.length === 1 && target[0] === 0x2e) || (target.length === 2 && target[0] === 0x2e && target[1] === 0x2e))
      throw new UnsafeEntryError({ path: showPath(h.path), reason: "a whiteout must name an entry of its directory" })
    const { parent } = this.root.entry(h.path)
    const comps = [...parent, target]
    const k = key(comps)
    if (this.added.has(k)) return // whiteouts never remove what their own layer adds
    const abs = this.root.abs(comps)
    try {
      // A parent that is not a directory (e.g. replaced by a file in this layer) hides everything below it already.
      let parentIsDir: boolean | undefined
      try {
        parentIsDir = lstatSync(this.root.abs(parent)).isDirectory()
      } catch {}
      if (parentIsDir === false) return
      if (this.form === "flat") {
        if (parentIsDir === undefined) return // nothing below a missing directory to remove
        this.touchParent(parent)
        this.replace(abs)
        return
      }
      this.ensureDir(parent, h)
      this.replace(abs)
      if ((this.options.overlay?.whiteout ?? "device") === "xattr") {
        // rootless: user.* xattrs need write permission on the file (and a copy needs to read it)
        closeSync(openSync(abs, WRITE_FLAGS, this.rootless ? 0o600 : 0o000))
        this.xattrs.set(k, { path: abs, xattrs: new Map([[overlayWhiteoutXattr(this.ns), Buffer.from("y")]]) })
        const pk = key(parent)
        const px = this.xattrs.get(pk)?.xattrs ?? new Map<string, Buffer>()
        // overlayfs.rst: a directory holding xattr whiteouts is marked opaque "x" (unless it is opaque already).
        if (px.get(overlayOpaqueXattr(this.ns))?.toString() !== "y") px.set(overlayOpaqueXattr(this.ns), Buffer.from("x"))
        this.xattrs.set(pk, { path: this.root.abs(parent), xattrs: px })
      } else {
        const ok = mknod(this.root.root, abs, "char", 0, 0, 0)
        if (ok !== true) throw new Error(`cannot create the 0/0 whiteout device: ${ok}; use overlay.whiteout "xattr"`)
      }
    } catch (e) {
      this.fail(h, "applying the whiteout", e)
    }
  }

  /** After the last entry: xattrs (one setfattr run), then directory times, deepest last written. */
  finish() {
    const failures = setXattrs([...this.xattrs.values()])
    if (failures.length > 0) {
      if (!this.rootless) throw new ApplyEntryError({ path: "(xattrs)", operation: "setfattr", reason: failures.join("; ") })
      for (const f of failures) this.warnings.push({ path: "(xattrs)", reason: f })
    }
    for (const [k, t] of this.parentTimes) if (!this.dirTimes.has(k)) setTimes(t)
    for (const t of this.dirTimes.values()) setTimes(t)
  }
}

function writeAll(fd: number, chunk: Buffer) {
  let off = 0
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off)
}

/** The process umask from /proc/self/status ("Umask:\t0022"), undefined where that is not readable. */
function readUmask(): number | undefined {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync("/proc/self/status", "latin1"))
    return m ? Number.parseInt(m[1]!, 8) : undefined
  } catch {
    return undefined
  }
}

function setTimes(t: Times) {
  try {
    utimesSync(t.abs, t.atime, t.mtime)
  } catch (e) {
    if (errno(e) !== "ENOENT") throw e // removed later in the same layer
  }
}

function paxTime(h: TarHeader, k: string): number | undefined {
  const v = h.pax.get(k)
  if (v === undefined) return undefined
  const n = Number(v.toString("latin1"))
  return Number.isFinite(n) ? n : undefined
}

function fchownAndMode(dest: Buffer, st: Stats, chown: boolean) {
  if (chown) lchownSync(dest, st.uid, st.gid)
  chmodSync(dest, st.mode & 0o7777)
  utimesSync(dest, st.atimeMs / 1000, st.mtimeMs / 1000)
}

let tmpSeq = 0
/**
 * mknod(1) at a temporary ASCII name in the root, then rename into place (same filesystem):
 * child process arguments are strings, so a non-UTF-8 name could not be passed to it.
 */
function mknod(root: Buffer, abs: Buffer, type: "char" | "block" | "fifo", mode: number, major: number, minor: number): true | string {
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
