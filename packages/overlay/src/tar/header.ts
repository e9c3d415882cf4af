/**
 * The tar header as cairn sees it: one entry's metadata after PAX, GNU and ustar have been
 * merged, with names, link targets and xattr values kept as the raw bytes the archive holds.
 */
export type EntryType = "file" | "directory" | "symlink" | "hardlink" | "char" | "block" | "fifo"

export interface TarHeader {
  /** raw bytes (PAX path > GNU longname > ustar prefix/name), "./" prefix and trailing "/" stripped */
  path: Buffer
  type: EntryType
  /** permission bits incl. setuid/setgid/sticky (0o7777) */
  mode: number
  uid: number
  gid: number
  uname: string
  gname: string
  /** body bytes (files only; 0 otherwise) */
  size: number
  /** seconds since epoch, fractional when PAX gives it */
  mtime: number
  /** symlink target / hardlink target path, raw bytes (empty if none) */
  linkpath: Buffer
  devmajor: number
  devminor: number
  /** from PAX SCHILY.xattr.<name>, values as raw bytes */
  xattrs: Map<string, Buffer>
  /** every other PAX record, raw value bytes */
  pax: Map<string, Buffer>
}

/** A tar block; headers and bodies are laid out in multiples of it (POSIX pax, "ustar Interchange Format"). */
export const BLOCK_SIZE = 512

/** Byte offsets of the ustar header fields (POSIX.1-2001 pax, ustar header block). */
export const USTAR = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155]
} as const

/** Header checksum: the byte sum of the block with the chksum field counted as spaces. */
export function headerChecksum(block: Uint8Array): { unsigned: number; signed: number } {
  // one branch-free pass around the chksum field (eight spaces); a byte over 127 counts 256 less
  // in the signed sum, as old tars computed it with signed chars
  let unsigned = 8 * 0x20
  let high = 0
  for (let i = 0; i < 148; i++) {
    const b = block[i]!
    unsigned += b
    high += b >> 7
  }
  for (let i = 156; i < BLOCK_SIZE; i++) {
    const b = block[i]!
    unsigned += b
    high += b >> 7
  }
  return { unsigned, signed: unsigned - 256 * high }
}

/** A header with defaults, for builders and tests. */
export function makeHeader(fields: Partial<TarHeader> & { path: Buffer | string; type: EntryType }): TarHeader {
  return {
    mode: fields.type === "directory" ? 0o755 : fields.type === "symlink" ? 0o777 : 0o644,
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
    size: 0,
    mtime: 0,
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    pax: new Map(),
    ...fields,
    path: typeof fields.path === "string" ? Buffer.from(fields.path) : fields.path,
    linkpath:
      fields.linkpath === undefined
        ? Buffer.alloc(0)
        : typeof fields.linkpath === "string"
          ? Buffer.from(fields.linkpath)
          : fields.linkpath
  } as TarHeader
}
