// A canonical listing of a directory tree, to compare trees produced by different tools.
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs"

export interface Row {
  path: string
  type: string
  mode: string
  owner: string
  size: number
  sha: string
  link: string
  xattrs: string
  /** index of the hardlink group (rows sharing an inode), "" when nlink is 1 */
  group: string
  mtime: string
}

const unescapeOctal = (s: string) => Buffer.from(s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8))), "latin1")

/** All xattrs under `root` (one getfattr run), keyed by raw path (latin1). */
export function xattrTree(root: string): Map<string, Map<string, string>> {
  const r = spawnSync("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root], { encoding: "latin1", maxBuffer: 1 << 28 })
  const out = new Map<string, Map<string, string>>()
  let cur: Map<string, string> | undefined
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      cur = new Map()
      out.set(unescapeOctal(line.slice(8)).toString("latin1"), cur)
    } else if (cur && line.includes("=")) {
      const i = line.indexOf("=")
      cur.set(line.slice(0, i), line.slice(i + 1))
    }
  }
  return out
}

export interface ListOptions {
  /** xattr names to leave out (e.g. selinux labels the host adds) */
  ignoreXattrs?: (name: string) => boolean
  /** mtime precision in digits after the second (default 9, from mtimeNs) */
  mtimeDigits?: number
  /** include the root directory's own row */
  includeRoot?: boolean
}

export function listTree(root: string, opts: ListOptions = {}): Row[] {
  const xs = xattrTree(root)
  const rows: Row[] = []
  const inodes = new Map<string, string[]>()
  const rootBuf = Buffer.from(root)
  const walk = (rel: Buffer) => {
    const abs = rel.length ? Buffer.concat([rootBuf, Buffer.from("/"), rel]) : rootBuf
    const st = lstatSync(abs, { bigint: true })
    const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isCharacterDevice() ? `char ${st.rdev >> 8n}:${st.rdev & 0xffn}` : st.isBlockDevice() ? `block ${st.rdev >> 8n}:${st.rdev & 0xffn}` : st.isFIFO() ? "fifo" : "other"
    const x = xs.get(abs.toString("latin1")) ?? new Map()
    const xattrs = [...x].filter(([k]) => !(opts.ignoreXattrs?.(k) ?? false)).sort().map(([k, v]) => `${k}=${v}`).join(",")
    const digits = opts.mtimeDigits ?? 9
    const ns = st.mtimeNs
    const sec = ns / 1_000_000_000n
    const frac = (ns % 1_000_000_000n).toString().padStart(9, "0").slice(0, digits)
    const row: Row = {
      path: rel.length ? rel.toString("latin1") : ".",
      type,
      mode: (Number(st.mode) & 0o7777).toString(8),
      owner: `${st.uid}:${st.gid}`,
      size: st.isFile() ? Number(st.size) : 0,
      sha: st.isFile() ? createHash("sha256").update(readFileSync(abs)).digest("hex").slice(0, 16) : "",
      link: st.isSymbolicLink() ? readlinkSync(abs, { encoding: "buffer" }).toString("latin1") : "",
      xattrs,
      group: "",
      mtime: digits > 0 ? `${sec}.${frac}` : `${sec}`
    }
    if (rel.length > 0 || opts.includeRoot) rows.push(row)
    if (!st.isDirectory() && st.nlink > 1n) {
      const k = `${st.dev}:${st.ino}`
      inodes.set(k, [...(inodes.get(k) ?? []), row.path])
    }
    if (st.isDirectory()) {
      const names = readdirSync(abs, { encoding: "buffer" }).sort(Buffer.compare)
      for (const n of names) walk(rel.length ? Buffer.concat([rel, Buffer.from("/"), n]) : n)
    }
  }
  walk(Buffer.alloc(0))
  // Name each hardlink group by its first member, so listings of different trees compare.
  const groupOf = new Map<string, string>()
  for (const members of inodes.values()) if (members.length > 1) for (const m of members) groupOf.set(m, members.sort()[0]!)
  for (const r of rows) r.group = groupOf.get(r.path) ?? ""
  return rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

export const rowText = (r: Row) => `${r.path} ${r.type} ${r.mode} ${r.owner} ${r.size} ${r.sha} ${r.link} [${r.xattrs}] {${r.group}} ${r.mtime}`
