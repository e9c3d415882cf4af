
import type { Writable } from "node:stream"
import { showPath } from "../errors.js"
import type { EntryType, TarHeader } from "./header.js"
import { TarBodySizeError, TarHeaderError, TarWriterClosedError } from "../errors.js"

export type TarWriteError = TarBodySizeError | TarHeaderError | TarWriterClosedError

const BLOCK = 512
const TYPEFLAG: Record<EntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  directory: 0x35,
  fifo: 0x36
}
const MAX_OCTAL_7 = 0o7777777 // 8-byte numeric fields: 7 octal digits + NUL
const MAX_OCTAL_11 = 0o77777777777 // 12-byte numeric fields (size, mtime): 11 octal digits + NUL
// PAX keys cairn derives from the header itself; equal keys in header.pax are ignored (pax.md)
const DERIVED_KEYS = new Set(["path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime"])

const isAscii = (b: Buffer) => {
  for (const c of b) if (c >= 0x80 || c === 0) return false
  return true
}

function writeOctal(block: Buffer, offset: number, width: number, value: number) {
  // width-1 zero-padded octal digits then NUL, as GNU tar writes them
  block.write(value.toString(8).padStart(width - 1, "0"), offset, width - 1, "ascii")
  block[offset + width - 1] = 0
}

/** One PAX record, "<len> <key>=<value>\n", where <len> counts the whole record itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")])
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return Buffer.concat([Buffer.from(String(len), "ascii"), body])
}

function formatPaxTime(t: number): string {
  if (Number.isInteger(t)) return String(t)
  // up to nanoseconds, trailing zeros dropped: deterministic for a given double
  const s = t.toFixed(9).replace(/0+$/u, "")
  return s.endsWith(".") ? s.slice(0, -1) : s
}

/** Split a ustar path into prefix (155) and name (100) at a "/"; undefined when it cannot. */
function splitUstar(p: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (p.length <= 100) return { prefix: Buffer.alloc(0), name: p }
  if (p.length > 256) return undefined
  for (let i = Math.min(155, p.length - 2); i > 0; i--) {
    if (p[i] === 0x2f && p.length - i - 1 <= 100 && p.length - i - 1 > 0) {
      return { prefix: p.subarray(0, i), name: p.subarray(i + 1) }
    }
  }
  return undefined
}

/**
 * Encode the header blocks of one entry (PAX extended header first when needed).
 * Exported for tests; not part of the package API.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const shown = showPath(h.path)
  if (h.path.length === 0) throw new TarHeaderError({ path: shown, field: "path", reason: "empty path" })
  if (h.path.includes(0)) throw new TarHeaderError({ path: shown, field: "path", reason: "contains a NUL byte" })
  if (h.linkpath.includes(0)) {
    throw new TarHeaderError({ path: shown, field: "linkpath", reason: "contains a NUL byte" })
  }
  if (h.type !== "file" && h.size !== 0) {
    throw new TarHeaderError({ path: shown, field: "size", reason: `a ${h.type} entry has no body (size ${h.size})` })
  }
  if (!Number.isSafeInteger(h.size) || h.size < 0) {
    throw new TarHeaderError({ path: shown, field: "size", reason: `not a byte count: ${h.size}` })
  }
  for (const [field, v] of [["uid", h.uid], ["gid", h.gid]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new TarHeaderError({ path: shown, field, reason: `not an id: ${v}` })
  }
  for (const [field, v] of [["devmajor", h.devmajor], ["devminor", h.devminor]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_OCTAL_7) {
      throw new TarHeaderError({ path: shown, field, reason: `${v} does not fit 7 octal digits` })
    }
  }
  if (!Number.isFinite(h.mtime)) throw new TarHeaderError({ path: shown, field: "mtime", reason: String(h.mtime) })

  const pax: Array<[string, Buffer]> = []
  // directories carry a trailing "/" by convention (GNU tar, Docker, umoci)
  const fullPath = h.type === "directory" ? Buffer.concat([h.path, Buffer.from("/")]) : h.path
  let split = isAscii(fullPath) ? splitUstar(fullPath) : undefined
  if (split === undefined) {
    pax.push(["path", h.path])
    // ustar fields get a truncated copy for readers that ignore PAX; PAX wins for the rest
    split = { prefix: Buffer.alloc(0), name: fullPath.subarray(0, 100) }
  }
  let linkField = h.linkpath
  if (h.linkpath.length > 100 || !isAscii(h.linkpath)) {
    pax.push(["linkpath", h.linkpath])
    linkField = h.linkpath.subarray(0, 100)
  }
  let sizeField = h.size
  if (h.size > MAX_OCTAL_11) {
    pax.push(["size", Buffer.from(String(h.size))])
    sizeField = 0
  }
  let uidField = h.uid
  if (h.uid > MAX_OCTAL_7) {
    pax.push(["uid", Buffer.from(String(h.uid))])
    uidField = 0
  }
  let gidField = h.gid
  if (h.gid > MAX_OCTAL_7) {
    pax.push(["gid", Buffer.from(String(h.gid))])
    gidField = 0
  }
  const uname = Buffer.from(h.uname, "utf8")
  let unameField = uname
  if (uname.length > 31 || !isAscii(uname)) {
    pax.push(["uname", uname])
    unameField = Buffer.alloc(0)
  }
  const gname = Buffer.from(h.gname, "utf8")
  let gnameField = gname
  if (gname.length > 31 || !isAscii(gname)) {
    pax.push(["gname", gname])
    gnameField = Buffer.alloc(0)
  }
  let mtimeField = Math.floor(h.mtime)
  if (!Number.isInteger(h.mtime) || h.mtime < 0 || h.mtime > MAX_OCTAL_11) {
    pax.push(["mtime", Buffer.from(formatPaxTime(h.mtime))])
    mtimeField = Math.min(Math.max(mtimeField, 0), MAX_OCTAL_11)
  }
  for (const [key, value] of [...h.pax].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (DERIVED_KEYS.has(key) || key.startsWith("SCHILY.xattr.")) continue
    pax.push([key, value])
  }
  for (const [name, value] of [...h.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name.length === 0 || name.includes("=") || name.includes("\0")) {
      throw new TarHeaderError({ path: shown, field: `xattr ${JSON.stringify(name)}`, reason: "invalid xattr name" })
    }
    pax.push([`SCHILY.xattr.${name}`, value])
  }

  const main = ustarBlock({
    name: split.name,
    prefix: split.prefix,
    mode: h.mode & 0o7777,
    uid: uidField,
    gid: gidField,
    size: sizeField,
    mtime: mtimeField,
    typeflag: TYPEFLAG[h.type],
    linkname: linkField,
    uname: unameField,
    gname: gnameField,
    devmajor: h.devmajor,
    devminor: h.devminor
  })
  if (pax.length === 0) return main
  const data = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)))
  // deterministic name for the extended header (GNU tar puts its pid there)
  const base = fullPath.subarray(fullPath.lastIndexOf(0x2f, fullPath.length - 2) + 1)
  const safe = Buffer.from(
    Array.from(base.subarray(0, 89), (c) => (c >= 0x20 && c < 0x7f ? c : 0x5f))
  )
  const paxHeader = ustarBlock({
    name: Buffer.concat([Buffer.from("PaxHeaders/"), safe]),
    prefix: Buffer.alloc(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    typeflag: 0x78, // 'x': extended header for the next entry (POSIX pax)
    linkname: Buffer.alloc(0),
    uname: Buffer.alloc(0),
    gname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0
  })
  return Buffer.concat([paxHeader, data, Buffer.alloc(padding(data.length)), main])
}

interface UstarFields {
  name: Buffer
  prefix: Buffer
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  typeflag: number
  linkname: Buffer
  uname: Buffer
  gname: Buffer
  devmajor: number
  devminor: number
}

// POSIX.1-2001 ustar header layout (pax "ustar Interchange Format")
function ustarBlock(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK)
  f.name.copy(b, 0, 0, 100)
  writeOctal(b, 100, 8, f.mode)
  writeOctal(b, 108, 8, f.uid)
  writeOctal(b, 116, 8, f.gid)
  writeOctal(b, 124, 12, f.size)
  writeOctal(b, 136, 12, f.mtime)
  b[156] = f.typeflag
  f.linkname.copy(b, 157, 0, 100)
  b.write("ustar\u000000", 257, 8, "latin1")
  f.uname.copy(b, 265, 0, 31)
  f.gname.copy(b, 297, 0, 31)
  if (f.typeflag === TYPEFLAG.char || f.typeflag === TYPEFLAG.block) {
    writeOctal(b, 329, 8, f.devmajor)
    writeOctal(b, 337, 8, f.devminor)
  }
  f.prefix.copy(b, 345, 0, 155)
  b.fill(0x20, 148, 156)
  let sum = 0
  for (const c of b) sum += c
  b.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "latin1")
  return b
}

const padding = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK

/**
 * Streams a POSIX pax tar into `out`: ustar headers, PAX records (raw bytes) only where ustar
 * cannot hold a value, no atime/ctime unless the header's pax map carries them.
 * Calls are serialized; a failed entry closes the writer (the archive would be corrupt).
 */
export class TarWriter {
  #out: Writable
  #queue: Promise<unknown> = Promise.resolve()
  #failed: TarWriteError | undefined
  #finished = false
  #streamError: Error | undefined

  constructor(out: Writable) {
    this.#out = out
    out.on("error", (e) => {
      this.#streamError = e
    })
  }

  /** Append an entry; `body` must hold exactly `header.size` bytes (files only). */
  add(header: TarHeader, body?: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    return this.#enqueue(() => this.#add(header, body))
  }

  /** Write the end-of-archive marker (two zero blocks) and end the output stream. */
  finish(): Promise<void> {
    return this.#enqueue(async () => {
      this.#finished = true
      await this.#write(Buffer.alloc(2 * BLOCK))
      // resolve once the trailer is accepted: 'finish' may wait on a consumer the caller awaits
      this.#out.end()
    })
  }

  #enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#failed) throw this.#failed
      if (this.#finished) throw new TarWriterClosedError({ reason: "finish() was called" })
      try {
        await op()
      } catch (e) {
        this.#failed ??=
          e instanceof TarBodySizeError || e instanceof TarHeaderError
            ? e
            : new TarWriterClosedError({ reason: e instanceof Error ? e.message : String(e) })
        throw e
      }
    })
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #add(header: TarHeader, body: Uint8Array | AsyncIterable<Uint8Array> | undefined) {
    const shown = showPath(header.path)
    if (body !== undefined && header.type !== "file") {
      throw new TarHeaderError({ path: shown, field: "body", reason: `a ${header.type} entry has no body` })
    }
    const head = encodeHeader(header)
    if (body === undefined) {
      if (header.size !== 0) {
        throw new TarBodySizeError({ path: shown, expected: header.size, actual: 0, early: false })
      }
      await this.#write(head)
      return
    }
    if (body instanceof Uint8Array) {
      if (body.length !== header.size) {
        throw new TarBodySizeError({
          path: shown,
          expected: header.size,
          actual: body.length,
          early: body.length > header.size
        })
      }
      await this.#write(head)
      if (body.length > 0) await this.#write(body)
      await this.#write(Buffer.alloc(padding(body.length)))
      return
    }
    await this.#write(head)
    let n = 0
    for await (const chunk of body) {
      n += chunk.length
      // refuse before writing the excess: the caller learns which entry lied about its size
      if (n > header.size) throw new TarBodySizeError({ path: shown, expected: header.size, actual: n, early: true })
      if (chunk.length > 0) await this.#write(chunk)
    }
    if (n !== header.size) throw new TarBodySizeError({ path: shown, expected: header.size, actual: n, early: false })
    await this.#write(Buffer.alloc(padding(n)))
  }

  #write(chunk: Uint8Array): Promise<void> {
    if (this.#streamError) return Promise.reject(this.#streamError)
    if (this.#out.destroyed) return Promise.reject(new TarWriterClosedError({ reason: "the output stream was destroyed" }))
    if (chunk.length === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const ok = this.#out.write(chunk, (e) => {
        if (e) reject(e)
      })
      if (ok) return resolve()
      const done = (e?: Error) => {
        this.#out.off("drain", onDrain)
        this.#out.off("error", onError)
        this.#out.off("close", onClose)
        if (e) reject(e)
        else resolve()
      }
      const onDrain = () => done()
      const onError = (e: Error) => done(e)
      // a stream destroyed without an error never drains: fail instead of waiting forever
      const onClose = () => done(this.#streamError ?? new TarWriterClosedError({ reason: "the output stream was closed" }))
      this.#out.once("drain", onDrain)
      this.#out.once("error", onError)
      this.#out.once("close", onClose)
    })
  }
}
