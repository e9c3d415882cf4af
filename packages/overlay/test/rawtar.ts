// A tar builder independent of cairn's writer: it lays out header bytes by hand, so tests can
// produce exactly the archives (valid or hostile) they need.

export interface RawEntry {
  name?: string | Buffer
  /** typeflag character */
  type?: string
  mode?: number
  uid?: number
  gid?: number
  size?: number
  mtime?: number
  linkname?: string | Buffer
  uname?: string
  gname?: string
  devmajor?: number
  devminor?: number
  prefix?: string | Buffer
  body?: Buffer | string
  /** ustar (default) or gnu magic */
  magic?: "ustar" | "gnu"
  /** write size as base-256 */
  base256Size?: boolean
  /** override checksum (to corrupt it) */
  checksum?: number
  /** PAX records written as a preceding 'x' entry, values raw */
  pax?: Array<[string, string | Buffer]>
  /** GNU long name ('L') / long link ('K') entries before this one */
  gnuLongName?: string | Buffer
  gnuLongLink?: string | Buffer
}

const buf = (v: string | Buffer) => (typeof v === "string" ? Buffer.from(v) : v)

function octal(block: Buffer, off: number, len: number, v: number) {
  block.write(v.toString(8).padStart(len - 1, "0"), off, len - 1, "latin1")
  block[off + len - 1] = 0
}

export function paxRecords(recs: Array<[string, string | Buffer]>): Buffer {
  const parts: Buffer[] = []
  for (const [k, v0] of recs) {
    const v = buf(v0)
    const bodyLen = Buffer.byteLength(k) + v.length + 3 // " " "=" "\n"
    let len = bodyLen + String(bodyLen).length
    if (String(len).length !== String(bodyLen).length) len = bodyLen + String(len).length
    parts.push(Buffer.from(`${len} ${k}=`), v, Buffer.from("\n"))
  }
  return Buffer.concat(parts)
}

export function headerBlock(e: RawEntry): Buffer {
  const b = Buffer.alloc(512)
  buf(e.name ?? "").copy(b, 0, 0, 100)
  octal(b, 100, 8, e.mode ?? 0o644)
  octal(b, 108, 8, e.uid ?? 0)
  octal(b, 116, 8, e.gid ?? 0)
  const size = e.size ?? (e.body ? buf(e.body).length : 0)
  if (e.base256Size) {
    b.fill(0, 124, 136)
    b[124] = 0x80
    let v = BigInt(size)
    for (let i = 135; i > 124; i--) {
      b[i] = Number(v & 0xffn)
      v >>= 8n
    }
  } else octal(b, 124, 12, size)
  octal(b, 136, 12, e.mtime ?? 0)
  b.write(e.type ?? "0", 156, 1, "latin1")
  buf(e.linkname ?? "").copy(b, 157, 0, 100)
  if ((e.magic ?? "ustar") === "ustar") b.write("ustar\u000000", 257, 8, "latin1")
  else b.write("ustar  \u0000", 257, 8, "latin1")
  b.write(e.uname ?? "", 265, 32)
  b.write(e.gname ?? "", 297, 32)
  octal(b, 329, 8, e.devmajor ?? 0)
  octal(b, 337, 8, e.devminor ?? 0)
  if (e.prefix !== undefined) buf(e.prefix).copy(b, 345, 0, 155)
  b.fill(0x20, 148, 156)
  let sum = 0
  for (const x of b) sum += x
  octal(b, 148, 7, e.checksum ?? sum)
  b[155] = 0x20
  return b
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512)

export function entryBytes(e: RawEntry): Buffer {
  const parts: Buffer[] = []
  if (e.pax) {
    const body = paxRecords(e.pax)
    parts.push(headerBlock({ name: "PaxHeader", type: "x", body }), body, pad(body.length))
  }
  for (const [flag, v] of [["L", e.gnuLongName], ["K", e.gnuLongLink]] as const) {
    if (v === undefined) continue
    const body = Buffer.concat([buf(v), Buffer.alloc(1)])
    parts.push(headerBlock({ name: "././@LongLink", type: flag, body, magic: "gnu" }), body, pad(body.length))
  }
  const body = e.body === undefined ? Buffer.alloc(0) : buf(e.body)
  parts.push(headerBlock(e), body, pad(body.length))
  return Buffer.concat(parts)
}

/** A complete archive: entries then two zero blocks. */
export function rawTar(entries: RawEntry[], opts: { trailer?: boolean } = {}): Buffer {
  return Buffer.concat([...entries.map(entryBytes), opts.trailer === false ? Buffer.alloc(0) : Buffer.alloc(1024)])
}

/** Entries as an async iterable in small uneven chunks (to exercise block reassembly). */
export async function* chunked(data: Buffer, size = 777): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}
