// COPY/ADD: the sources a step names (globs, directories, .dockerignore), the digest of their
// content and metadata (the step's cache key), and the copy into a mounted root, every path
// resolved inside that root (symlinks evaluated as if it were "/").
import { execFile } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import type { Stats } from "node:fs"
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, open, readFile, readlink, rename, symlink, utimes, writeFile } from "node:fs/promises"
import { join, posix } from "node:path"
import { promisify } from "node:util"
import { cleanComponents, RootPath } from "@cairn/overlay"
import { type IgnoreMatcher, isGlob, toRegex } from "./ignore.js"

const run = promisify(execFile)

/** Where COPY reads from: the build context (with its ignore file) or another stage's / image's root. */
export interface SourceRoot {
  readonly dir: string
  readonly ignore: IgnoreMatcher
  /** the words of errors: "the build context" or "stage builder" */
  readonly label: string
}

export interface SourceEntry {
  /** path relative to the source item ("" for the item itself) */
  readonly rel: string
  readonly abs: string
  readonly st: Stats
}

export interface SourceItem {
  /** context-relative path of the item as matched */
  readonly rel: string
  readonly abs: string
  readonly st: Stats
  /** a directory's contents (depth first, parents before children); [] for a file */
  readonly entries: ReadonlyArray<SourceEntry>
  /** inline content (a heredoc) */
  readonly inline?: string
}

export class CopySourceError extends Error {}

const clean = (p: string) => {
  const c = posix.normalize(`/${p}`).slice(1)
  return c === "" ? "" : c.replace(/\/$/, "")
}

/** Walks a directory's included contents; an excluded directory is skipped whole unless exceptions exist. */
async function walk(root: SourceRoot, rel: string, abs: string, base: string, out: Array<SourceEntry>): Promise<void> {
  // synchronous: one system call per entry without a thread-pool round trip (a context of 10,000
  // files is listed in tens of milliseconds); the event loop gets a turn per directory
  const names = fs.readdirSync(abs).sort()
  for (const name of names) {
    const r = rel === "" ? name : `${rel}/${name}`
    const a = join(abs, name)
    const st = fs.lstatSync(a)
    const ignored = root.ignore.ignores(r)
    if (ignored && !(st.isDirectory() && root.ignore.hasExceptions)) continue
    const sub = base === "" ? r : r.slice(base.length + 1)
    if (!ignored) out.push({ rel: sub, abs: a, st })
    if (st.isDirectory()) await walk(root, r, a, base, out)
  }
  await new Promise((r) => setImmediate(r))
}

/** Every path under the root (for glob matching), ignore applied. */
async function allPaths(root: SourceRoot): Promise<Array<string>> {
  const out: Array<SourceEntry> = []
  await walk(root, "", root.dir, "", out)
  return out.map((e) => e.rel)
}

/** The items `sources` name in `root`: globs expanded, ignore applied, paths kept inside the root. */
export async function resolveSources(root: SourceRoot, sources: ReadonlyArray<string>): Promise<Array<SourceItem>> {
  const items: Array<SourceItem> = []
  let paths: Array<string> | undefined
  for (const source of sources) {
    if (/^[a-z]+:\/\//i.test(source)) throw new CopySourceError(`${source}: remote URLs are not supported by cairn build; download the file into the context`)
    const rel = clean(source)
    const matched: Array<string> = []
    if (isGlob(rel)) {
      paths ??= await allPaths(root)
      const re = toRegex(rel)
      for (const p of paths) if (re.test(p)) matched.push(p)
      if (matched.length === 0) throw new CopySourceError(`no file in ${root.label} matches ${JSON.stringify(source)} (or .dockerignore excludes them)`)
    } else {
      if (rel !== "" && root.ignore.ignores(rel)) throw new CopySourceError(`${JSON.stringify(source)} is excluded from ${root.label} by its .containerignore/.dockerignore`)
      matched.push(rel)
    }
    for (const m of matched) {
      const abs = m === "" ? root.dir : join(root.dir, m)
      const st = await lstat(abs).catch(() => undefined)
      if (st === undefined) throw new CopySourceError(`${JSON.stringify(source)} is not in ${root.label} (${abs} does not exist)`)
      const entries: Array<SourceEntry> = []
      if (st.isDirectory()) await walk(root, m, abs, m, entries)
      items.push({ rel: m, abs, st, entries })
    }
  }
  return items
}

/**
 * Content digests of context files, remembered by (device, inode, size, mtime, ctime) as git's
 * index does, so a rebuild reads only files that changed. An entry is trusted only when the
 * file's ctime is older than the moment it was hashed (a write in the same instant re-hashes).
 */
export class FileHashes {
  private changed = false
  private constructor(
    private readonly path: string | undefined,
    private readonly entries: Map<string, { k: string; h: string; at: number }>
  ) {}
  static async load(path: string | undefined): Promise<FileHashes> {
    if (path === undefined) return new FileHashes(undefined, new Map())
    const text = await readFile(path, "utf8").catch(() => undefined)
    let map = new Map<string, { k: string; h: string; at: number }>()
    try {
      if (text !== undefined) map = new Map(Object.entries(JSON.parse(text) as Record<string, { k: string; h: string; at: number }>))
    } catch {
      // a damaged cache is only a slower build
    }
    return new FileHashes(path, map)
  }
  hash(abs: string, st: Stats): string {
    const k = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`
    const e = this.entries.get(abs)
    if (e !== undefined && e.k === k && st.ctimeMs < e.at - 2) return e.h
    const h = createHash("sha256").update(fs.readFileSync(abs)).digest("hex")
    this.entries.set(abs, { k, h, at: Date.now() })
    this.changed = true
    return h
  }
  async save(): Promise<void> {
    if (this.path === undefined || !this.changed) return
    const tmp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`
    await writeFile(tmp, JSON.stringify(Object.fromEntries(this.entries)))
    await rename(tmp, this.path)
  }
}

/** The digest of what a COPY would write: names, types, modes, sizes, link targets and file contents. */
export async function sourcesDigest(items: ReadonlyArray<SourceItem>, hashes?: FileHashes): Promise<string> {
  const known = hashes ?? (await FileHashes.load(undefined))
  const h = createHash("sha256")
  const add = (name: string, abs: string, st: Stats) => {
    h.update(`${name}\0${st.mode.toString(8)}\0${st.size}\0`)
    if (st.isSymbolicLink()) h.update(fs.readlinkSync(abs))
    else if (st.isFile()) h.update(known.hash(abs, st))
    h.update("\n")
  }
  for (const item of items) {
    if (item.inline !== undefined) {
      h.update(`inline\0${item.rel}\0${item.inline}\n`)
      continue
    }
    add(item.rel, item.abs, item.st)
    for (const [i, e] of item.entries.entries()) {
      add(`${item.rel}/${e.rel}`, e.abs, e.st)
      if (i % 512 === 511) await new Promise((r) => setImmediate(r))
    }
  }
  await known.save()
  return h.digest("hex")
}

export interface CopyOptions {
  /** the destination as written (absolute in the image, after WORKDIR) */
  readonly dest: string
  /** several sources or a glob: the destination is a directory */
  readonly destIsDir: boolean
  readonly owner?: { uid: number; gid: number }
  /** --chmod (octal) */
  readonly mode?: number
  /** ADD: local tar archives are extracted */
  readonly extractArchives: boolean
}

/** Resolves an image path inside the mounted root; creates the missing directories (0755, owner). */
async function ensureDir(rp: RootPath, path: string, owner: { uid: number; gid: number } | undefined): Promise<string> {
  const comps = cleanComponents(Buffer.from(path))
  let done: Array<Buffer> = []
  for (const c of comps) {
    done = rp.resolve([...done, c], true, path)
    const abs = rp.abs(done).toString()
    const st = await lstat(abs).catch(() => undefined)
    if (st === undefined) {
      await mkdir(abs, { mode: 0o755 })
      await chmod(abs, 0o755)
      if (owner !== undefined) await lchown(abs, owner.uid, owner.gid)
    } else if (!st.isDirectory()) throw new CopySourceError(`${path}: ${rp.abs(done).toString().slice(rp.root.length) || "/"} exists and is not a directory`)
  }
  return rp.abs(done).toString()
}

/** Creates an image directory (and its parents, 0755 root) inside the mounted root. */
export const ensureDirIn = (root: string, path: string): Promise<string> => ensureDir(new RootPath(root), path, undefined)

const ARCHIVE_MAGIC: ReadonlyArray<Buffer> = [Buffer.from([0x1f, 0x8b]), Buffer.from("BZh"), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.from([0x28, 0xb5, 0x2f, 0xfd])]

async function isArchive(abs: string): Promise<boolean> {
  const fh = await open(abs, "r")
  try {
    const buf = Buffer.alloc(512)
    const { bytesRead } = await fh.read(buf, 0, 512, 0)
    const head = buf.subarray(0, bytesRead)
    if (ARCHIVE_MAGIC.some((m) => head.subarray(0, m.length).equals(m))) return true
    return bytesRead >= 262 && head.subarray(257, 262).toString("latin1") === "ustar"
  } finally {
    await fh.close()
  }
}

/** Copies the items into `root` (a mounted overlay), as docker's COPY/ADD lay them out. */
export async function copyInto(root: string, items: ReadonlyArray<SourceItem>, o: CopyOptions): Promise<void> {
  const rp = new RootPath(root)
  const destDir = o.destIsDir || o.dest.endsWith("/")
  for (const item of items) {
    if (item.inline !== undefined) {
      const target = await fileTarget(rp, o, destDir, item.rel)
      await writeFile(target, item.inline, { mode: o.mode ?? 0o644 })
      await chmod(target, o.mode ?? 0o644)
      await lchown(target, o.owner?.uid ?? 0, o.owner?.gid ?? 0)
      continue
    }
    if (item.st.isDirectory()) {
      const dir = await ensureDir(rp, o.dest, o.owner)
      const dirs: Array<[string, Stats]> = []
      // directories first (in order), then files in parallel, then directory times (children change them)
      for (const e of item.entries) {
        if (!e.st.isDirectory()) continue
        const target = join(dir, e.rel)
        await mkdir(target).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err
        })
        dirs.push([target, e.st])
      }
      // synchronous calls: one system call each, no thread-pool round trip (10,000 small files
      // take a fraction of the time); the event loop gets a turn every 256 files
      let n = 0
      for (const e of item.entries) {
        if (e.st.isDirectory()) continue
        placeSync(e.abs, e.st, join(dir, e.rel), o)
        if (++n % 256 === 0) await new Promise((r) => setImmediate(r))
      }
      for (const [target, st] of dirs.reverse()) setMetaSync(target, st, o)
      continue
    }
    if (o.extractArchives && item.st.isFile() && (await isArchive(item.abs))) {
      const dir = await ensureDir(rp, o.dest, o.owner)
      // GNU tar refuses member names with ".." and defers symlinks that could lead outside the dir
      await run("tar", ["-x", "-f", item.abs, "-C", dir, "--numeric-owner", "-p", "--no-overwrite-dir"])
      continue
    }
    await place(item.abs, item.st, await fileTarget(rp, o, destDir, posix.basename(item.rel)), o)
  }
}

async function fileTarget(rp: RootPath, o: CopyOptions, destDir: boolean, base: string): Promise<string> {
  const dest = o.dest.replace(/\/+$/, "")
  const existing = await lstat(rp.abs(rp.resolve(cleanComponents(Buffer.from(dest)), true, dest)).toString()).catch(() => undefined)
  if (destDir || existing?.isDirectory() === true) return join(await ensureDir(rp, dest, o.owner), base)
  const parent = await ensureDir(rp, posix.dirname(dest), o.owner)
  return join(parent, posix.basename(dest))
}

async function place(src: string, st: Stats, target: string, o: CopyOptions): Promise<void> {
  const old = await lstat(target).catch(() => undefined)
  if (old !== undefined && !old.isDirectory()) await import("node:fs/promises").then((f) => f.rm(target, { force: true }))
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), target)
    await lchown(target, o.owner?.uid ?? 0, o.owner?.gid ?? 0)
    await lutimes(target, st.atime, st.mtime)
    return
  }
  if (!st.isFile()) return // sockets, fifos, devices of a context are not copied
  await copyFile(src, target)
  await setMeta(target, st, o)
}

function placeSync(src: string, st: Stats, target: string, o: CopyOptions): void {
  const old = fs.lstatSync(target, { throwIfNoEntry: false })
  if (old !== undefined && !old.isDirectory()) fs.rmSync(target, { force: true })
  if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), target)
    fs.lchownSync(target, o.owner?.uid ?? 0, o.owner?.gid ?? 0)
    fs.lutimesSync(target, st.atime, st.mtime)
    return
  }
  if (!st.isFile()) return
  fs.copyFileSync(src, target)
  setMetaSync(target, st, o)
}

function setMetaSync(target: string, st: Stats, o: CopyOptions): void {
  fs.lchownSync(target, o.owner?.uid ?? 0, o.owner?.gid ?? 0)
  fs.chmodSync(target, o.mode ?? st.mode & 0o7777)
  fs.utimesSync(target, st.atime, st.mtime)
}

async function setMeta(target: string, st: Stats, o: CopyOptions): Promise<void> {
  await lchown(target, o.owner?.uid ?? 0, o.owner?.gid ?? 0)
  await chmod(target, o.mode ?? st.mode & 0o7777)
  await utimes(target, st.atime, st.mtime)
}
