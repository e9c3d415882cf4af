import type { BigIntStats } from "node:fs"
import { lstat, readdir, readlink } from "node:fs/promises"
import { readTreeXattrs } from "./diff-xattrs.js"
import type { EntryType } from "./tar/header.js"
import { DiffSourceError } from "./errors.js"

/** One filesystem entry as the diff sees it; names and link targets are raw bytes. */
export interface FsNode {
  /** base name (empty for the root) */
  name: Buffer
  /** path relative to the scanned root, "/"-separated, no leading "./" */
  rel: Buffer
  /** absolute path on disk */
  abs: Buffer
  type: EntryType | "socket"
  mode: number
  uid: number
  gid: number
  size: number
  mtimeNs: bigint
  dev: bigint
  ino: bigint
  nlink: number
  devmajor: number
  devminor: number
  linkpath: Buffer
  xattrs: Map<string, Buffer>
  /** directories only: children sorted by the bytes of their names */
  children: FsNode[] | undefined
}

const typeOf = (st: BigIntStats): FsNode["type"] =>
  st.isFile()
    ? "file"
    : st.isDirectory()
      ? "directory"
      : st.isSymbolicLink()
        ? "symlink"
        : st.isCharacterDevice()
          ? "char"
          : st.isBlockDevice()
            ? "block"
            : st.isFIFO()
              ? "fifo"
              : "socket"

// Linux dev_t encoding (glibc sysmacros.h gnu_dev_major/gnu_dev_minor)
const devMajor = (rdev: bigint) => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn))
const devMinor = (rdev: bigint) => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn))

const reasonOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Compare raw names by bytes: the order every cairn output uses. */
export const compareBytes = (a: Buffer, b: Buffer) => Buffer.compare(a, b)

/**
 * lstat every entry under `root` (never following symlinks) and attach its xattrs, read for the
 * whole tree by one getfattr process. Sockets are kept as such so callers can report them.
 */
export async function scanTree(root: string, options: { xattrs?: boolean } = {}): Promise<FsNode> {
  const rootBuf = Buffer.from(root.endsWith("/") && root.length > 1 ? root.slice(0, -1) : root)
  const xattrs = options.xattrs === false ? new Map() : await readTreeXattrs(root)
  const make = async (abs: Buffer, rel: Buffer, name: Buffer): Promise<FsNode> => {
    let st: BigIntStats
    try {
      st = await lstat(abs, { bigint: true })
    } catch (e) {
      throw new DiffSourceError({ path: abs.toString(), operation: "lstat", reason: reasonOf(e) })
    }
    const type = typeOf(st)
    let linkpath = Buffer.alloc(0)
    if (type === "symlink") {
      try {
        linkpath = await readlink(abs, { encoding: "buffer" })
      } catch (e) {
        throw new DiffSourceError({ path: abs.toString(), operation: "readlink", reason: reasonOf(e) })
      }
    }
    return {
      name,
      rel,
      abs,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === "file" ? Number(st.size) : 0,
      mtimeNs: st.mtimeNs,
      dev: st.dev,
      ino: st.ino,
      nlink: Number(st.nlink),
      devmajor: type === "char" || type === "block" ? devMajor(st.rdev) : 0,
      devminor: type === "char" || type === "block" ? devMinor(st.rdev) : 0,
      linkpath,
      xattrs: xattrs.get(rel.toString("latin1")) ?? new Map(),
      children: undefined
    }
  }
  const fill = async (dir: FsNode): Promise<void> => {
    let names: Buffer[]
    try {
      names = await readdir(dir.abs, { encoding: "buffer" })
    } catch (e) {
      throw new DiffSourceError({ path: dir.abs.toString(), operation: "readdir", reason: reasonOf(e) })
    }
    names.sort(compareBytes)
    const slash = Buffer.from("/")
    dir.children = await Promise.all(
      names.map((n) =>
        make(
          Buffer.concat([dir.abs, slash, n]),
          dir.rel.length === 0 ? n : Buffer.concat([dir.rel, slash, n]),
          n
        )
      )
    )
    for (const c of dir.children) if (c.type === "directory") await fill(c)
  }
  const top = await make(rootBuf, Buffer.alloc(0), Buffer.alloc(0))
  if (top.type !== "directory") {
    throw new DiffSourceError({ path: root, operation: "scan", reason: "not a directory" })
  }
  await fill(top)
  return top
}

/** Every node below `root` in depth-first order, parents before children, siblings by name bytes. */
export function* walkNodes(root: FsNode): Generator<FsNode> {
  for (const c of root.children ?? []) {
    yield c
    if (c.children) yield* walkNodes(c)
  }
}
