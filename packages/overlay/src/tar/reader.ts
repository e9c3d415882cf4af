import { showPath, TarChecksumError, TarFormatError, TarTruncatedError } from "../errors.js"
import { BLOCK_SIZE, type EntryType, headerChecksum, type TarHeader } from "./header.js"

/** One archive entry: drain `body` or call `skip()` before asking for the next entry. */
export interface TarEntry {
  header: TarHeader
  body: AsyncIterable<Buffer>
  /** discard the rest of the body */
  skip(): Promise<void>
  /**
   * The whole rest of the body when it is already buffered (a slice, no copy; empty when there is
   * none), else undefined: then read `body`. Lets small files be written without an await per file.
   */
  bodySync(): Buffer | undefined
}

const EMPTY = Buffer.alloc(0)

/** Largest PAX / GNU long-name body accepted: these are buffered, file bodies never are. */
const MAX_META_SIZE = 16 * 1024 * 1024

const toBuffer = (c: Uint8Array): Buffer =>
  Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength)

/** Pulls bytes from the source on demand; keeps at most one chunk plus one partial block. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  /** bytes consumed from the archive so far */
  offset = 0
  private done = false
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  private get available() {
    return this.buf.length - this.pos
  }

  private async pull(): Promise<boolean> {
    if (this.done) return false
    for (;;) {
      const r = await this.it.next()
      if (r.done) {
        this.done = true
        return false
      }
      if (r.value.byteLength === 0) continue
      const chunk = toBuffer(r.value)
      // Keep unread bytes in front of the new chunk (only a partial block, so the copy is small).
      this.buf = this.available === 0 ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk])
      this.pos = 0
      return true
    }
  }

  /**
   * Exactly n bytes (n is small: a header or a metadata body), or fewer at EOF. Copies only when n
   * straddles chunks; a part taken from one chunk is copied before the next is pulled, as a source
   * may reuse a chunk's memory once later chunks are asked for (overlay's layer reader does).
   */
  async read(n: number): Promise<Buffer> {
    if (this.available >= n) {
      const out = this.buf.subarray(this.pos, this.pos + n)
      this.pos += n
      this.offset += n
      return out
    }
    const parts: Buffer[] = []
    let len = 0
    while (len < n) {
      if (this.available === 0) {
        // what was taken of the chunk before is copied before the next pull (see above)
        const last = parts.length - 1
        if (last >= 0) parts[last] = Buffer.from(parts[last]!)
        if (!(await this.pull())) break
      }
      const take = Math.min(n - len, this.available)
      parts.push(this.buf.subarray(this.pos, this.pos + take))
      this.pos += take
      len += take
    }
    this.offset += len
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, len)
  }

  /** Up to `max` bytes of what is buffered (pulling once if nothing is), without copying. */
  async some(max: number): Promise<Buffer | undefined> {
    if (this.available === 0 && !(await this.pull())) return undefined
    const len = Math.min(max, this.available)
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    this.offset += len
    return out
  }

  /** n bytes when all of them are buffered (a slice, no copy), else undefined without consuming anything. */
  buffered(n: number): Buffer | undefined {
    if (this.available < n) return undefined
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    this.offset += n
    return out
  }

  /** Skip n bytes; returns how many were skipped (fewer at EOF). */
  async skip(n: number): Promise<number> {
    let left = n
    while (left > 0) {
      const c = await this.some(left)
      if (c === undefined) break
      left -= c.length
    }
    return n - left
  }

  /** Read and discard to EOF, so that upstream hashes see every byte (the trailer's padding too). */
  async drain() {
    while (await this.some(Number.MAX_SAFE_INTEGER)) {}
  }
}

/** NUL-terminated field bytes. */
function field(block: Buffer, start: number, len: number): Buffer {
  const f = block.subarray(start, start + len)
  const nul = f.indexOf(0)
  return nul === -1 ? f : f.subarray(0, nul)
}

/** A numeric field: octal ASCII, or base-256 (GNU/star) when the top bit of the first byte is set. */
export function parseNumeric(block: Buffer, start: number, len: number): number {
  const first = block[start]!
  if (first & 0x80) {
    // Two's complement big-endian; a leading 0xff makes it negative (GNU/star base-256).
    let v = BigInt(first & 0x7f)
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(block[start + i]!)
    if (first === 0xff) v -= 1n << BigInt(len * 8 - 1)
    const n = Number(v)
    return Number.isSafeInteger(n) ? n : Number.NaN
  }
  let v = 0
  let seen = false
  for (let i = start; i < start + len; i++) {
    const b = block[i]!
    if (b === 0 || (b === 0x20 && seen)) break
    if (b === 0x20) continue
    if (b < 0x30 || b > 0x37) return Number.NaN
    v = v * 8 + (b - 0x30)
    seen = true
  }
  return v
}

/** PAX extended header records: "<len> <key>=<value>\n", values kept as raw bytes. */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  let i = 0
  while (i < body.length) {
    if (body[i] === 0) break // NUL padding after the last record
    const sp = body.indexOf(0x20, i)
    if (sp === -1) throw new Error("PAX record without a length")
    const lenText = body.toString("latin1", i, sp)
    const len = Number(lenText)
    if (!/^[0-9]+$/.test(lenText) || len <= sp - i + 1 || i + len > body.length) throw new Error(`PAX record length ${JSON.stringify(lenText)} is invalid`)
    const rec = body.subarray(sp + 1, i + len)
    if (rec[rec.length - 1] !== 0x0a) throw new Error("PAX record does not end with a newline")
    const eq = rec.indexOf(0x3d)
    if (eq <= 0) throw new Error("PAX record without '='")
    out.set(rec.toString("utf8", 0, eq), Buffer.from(rec.subarray(eq + 1, rec.length - 1)))
    i += len
  }
  return out
}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo"
}

/** Strip a leading "./" (repeatedly) and trailing "/" as the contract asks. */
function normalizePath(p: Buffer): Buffer {
  let start = 0
  let end = p.length
  while (end - start >= 2 && p[start] === 0x2e && p[start + 1] === 0x2f) {
    start += 2
    while (start < end && p[start] === 0x2f) start++
  }
  if (end - start === 1 && p[start] === 0x2e) return Buffer.alloc(0)
  while (end > start + 1 && p[end - 1] === 0x2f) end--
  return start === 0 && end === p.length ? p : p.subarray(start, end)
}

const isZero = (block: Buffer) => {
  for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false
  return true
}

const paxNumber = (v: Buffer | undefined): number | undefined => {
  if (v === undefined || v.length === 0) return undefined
  const s = v.toString("latin1")
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(s)) return Number.NaN
  return Number(s)
}

/**
 * Streams the entries of a tar archive (ustar, PAX, GNU long names, base-256 numbers).
 * File bodies are passed through as slices of the source chunks; only headers and metadata
 * bodies (PAX, GNU 'L'/'K', at most 16 MiB) are buffered, so memory is bounded by the chunk size.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const it = source[Symbol.asyncIterator]()
  const src = new ByteSource(it)
  let globalPax = new Map<string, Buffer>()
  let pending: { remaining: number; padding: number; raw: Buffer } | undefined

  const finishBody = async () => {
    if (pending === undefined) return
    const p = pending
    pending = undefined
    const want = p.remaining + p.padding
    const got = await src.skip(want)
    if (got < want) throw new TarTruncatedError({ offset: src.offset, path: showPath(p.raw), expected: want, actual: got })
  }

  const readMeta = async (size: number, path: string, start: number): Promise<Buffer> => {
    if (size > MAX_META_SIZE) throw new TarFormatError({ offset: start, path, reason: `metadata entry of ${size} bytes exceeds ${MAX_META_SIZE}` })
    const padded = Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE
    const data = await src.read(padded)
    if (data.length < padded) throw new TarTruncatedError({ offset: src.offset, path, expected: padded, actual: data.length })
    return Buffer.from(data.subarray(0, size))
  }

  try {
    for (;;) {
      await finishBody()
      let localPax: Map<string, Buffer> | undefined
      let longName: Buffer | undefined
      let longLink: Buffer | undefined
      let header: TarHeader | undefined
      // Collect metadata entries (PAX 'x'/'g', GNU 'L'/'K') until a real entry arrives.
      while (header === undefined) {
        const start = src.offset
        const block = await src.read(BLOCK_SIZE)
        if (block.length === 0 && localPax === undefined && longName === undefined && longLink === undefined) {
          // Clean EOF without an end marker: accepted, as Go's archive/tar (and so umoci) does.
          return
        }
        if (block.length < BLOCK_SIZE) throw new TarTruncatedError({ offset: src.offset, path: "", expected: BLOCK_SIZE, actual: block.length })
        if (isZero(block)) {
          if (localPax || longName || longLink) throw new TarFormatError({ offset: start, path: "", reason: "archive ends after an extended header" })
          // End of archive: two zero blocks (a single one followed by EOF is tolerated).
          const next = await src.read(BLOCK_SIZE)
          if (next.length === BLOCK_SIZE && !isZero(next)) throw new TarFormatError({ offset: start, path: "", reason: "a lone zero block inside the archive" })
          await src.drain()
          return
        }
        const rawName = field(block, 0, 100)
        const sum = headerChecksum(block)
        const stored = parseNumeric(block, 148, 8)
        if (stored !== sum.unsigned && stored !== sum.signed)
          throw new TarChecksumError({ offset: start, path: showPath(rawName), expected: stored, actual: sum.unsigned })
        const flag = String.fromCharCode(block[156]!)
        const size = parseNumeric(block, 124, 12)
        const where = () => showPath(longName ?? rawName)
        if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError({ offset: start, path: where(), reason: "invalid size field" })
        if (flag === "x" || flag === "g") {
          let recs: Map<string, Buffer>
          try {
            recs = parsePax(await readMeta(size, where(), start))
          } catch (e) {
            if (e instanceof TarTruncatedError || e instanceof TarFormatError) throw e
            throw new TarFormatError({ offset: start, path: where(), reason: (e as Error).message })
          }
          // Global records carry defaults (uname, mtime, xattrs...); a global path/linkpath/size
          // would rename or resize every later entry, which no tool means: they are ignored.
          if (flag === "g") globalPax = new Map([...globalPax, ...[...recs].filter(([k]) => k !== "path" && k !== "linkpath" && k !== "size")])
          else localPax = new Map([...(localPax ?? []), ...recs])
          continue
        }
        if (flag === "L" || flag === "K") {
          const data = field(await readMeta(size, where(), start), 0, size)
          if (flag === "L") longName = data
          else longLink = data
          continue
        }
        const magic = block.toString("latin1", 257, 263)
        const isUstar = magic === "ustar\0" // GNU ("ustar  ") uses the prefix area for other fields
        let type = TYPES[flag]
        if (type === undefined) {
          throw new TarFormatError({ offset: start, path: where(), reason: `unsupported entry type ${JSON.stringify(flag)}` })
        }
        const pax = globalPax.size === 0 ? (localPax ?? new Map<string, Buffer>()) : new Map([...globalPax, ...(localPax ?? [])])
        let path: Buffer
        const paxPath = pax.get("path")
        if (paxPath !== undefined && paxPath.length > 0) path = paxPath
        else if (longName !== undefined) path = longName
        else {
          const prefix = isUstar ? field(block, 345, 155) : Buffer.alloc(0)
          path = prefix.length > 0 ? Buffer.concat([prefix, Buffer.from("/"), rawName]) : Buffer.from(rawName)
        }
        // Old V7 archives (typeflag NUL) mark directories only by a trailing slash (as Go's archive/tar).
        if (flag === "\0" && path.length > 0 && path[path.length - 1] === 0x2f) type = "directory"
        const isLink = type === "symlink" || type === "hardlink"
        const paxLink = isLink ? pax.get("linkpath") : undefined
        // (a copy: the block is the reader's buffer, reused once the entry is read)
        const linkpath = !isLink
          ? EMPTY
          : paxLink !== undefined && paxLink.length > 0
            ? paxLink
            : longLink !== undefined
              ? longLink
              : Buffer.from(field(block, 157, 100))
        const num = (key: string, fallback: number) => {
          const v = paxNumber(pax.get(key))
          if (v === undefined) return fallback
          if (Number.isNaN(v)) throw new TarFormatError({ offset: start, path: showPath(path), reason: `PAX ${key} is not a number` })
          return v
        }
        const text = (key: string, off: number, len: number) => {
          const v = pax.get(key)
          return v !== undefined ? v.toString("utf8") : field(block, off, len).toString("utf8")
        }
        const bodySize = num("size", size)
        if (!Number.isSafeInteger(bodySize) || bodySize < 0) throw new TarFormatError({ offset: start, path: showPath(path), reason: "invalid PAX size" })
        const xattrs = new Map<string, Buffer>()
        const rest = new Map<string, Buffer>()
        for (const [k, v] of pax) {
          if (k.startsWith("SCHILY.xattr.")) xattrs.set(k.slice(13), v)
          else if (!PAX_APPLIED.has(k)) rest.set(k, v)
        }
        const fieldNum = (off: number, len: number, name: string) => {
          const v = parseNumeric(block, off, len)
          if (Number.isNaN(v)) throw new TarFormatError({ offset: start, path: showPath(path), reason: `invalid ${name} field` })
          return v
        }
        const hasBody = type === "file"
        header = {
          path: normalizePath(path),
          type,
          mode: fieldNum(100, 8, "mode") & 0o7777,
          uid: num("uid", fieldNum(108, 8, "uid")),
          gid: num("gid", fieldNum(116, 8, "gid")),
          uname: text("uname", 265, 32),
          gname: text("gname", 297, 32),
          size: hasBody ? bodySize : 0,
          mtime: num("mtime", fieldNum(136, 12, "mtime")),
          linkpath,
          devmajor: type === "char" || type === "block" ? fieldNum(329, 8, "devmajor") : 0,
          devminor: type === "char" || type === "block" ? fieldNum(337, 8, "devminor") : 0,
          xattrs,
          pax: rest
        }
        // Header-only types carry no body whatever the size field says (as Go's archive/tar).
        const skipBytes = hasBody ? bodySize : 0
        pending = { remaining: skipBytes, padding: (BLOCK_SIZE - (skipBytes % BLOCK_SIZE)) % BLOCK_SIZE, raw: path }
      }
      const state = pending!
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          while (state.remaining > 0 && pending === state) {
            const c = await src.some(state.remaining)
            if (c === undefined) throw new TarTruncatedError({ offset: src.offset, path: showPath(state.raw), expected: state.remaining, actual: 0 })
            state.remaining -= c.length
            yield c
          }
        }
      }
      const bodySync = (): Buffer | undefined => {
        if (pending !== state) return undefined
        if (state.remaining === 0) return EMPTY
        const c = src.buffered(state.remaining)
        if (c !== undefined) state.remaining = 0
        return c
      }
      yield { header, body, skip: finishBody, bodySync }
    }
  } finally {
    await it.return?.()
  }
}

/** PAX keys folded into TarHeader fields, so not repeated in `pax`. */
const PAX_APPLIED = new Set(["path", "linkpath", "size", "mtime", "uid", "gid", "uname", "gname"])
