import * as Data from "effect/Data"

/** Printable form of a raw tar path: UTF-8 where valid, \xNN escapes elsewhere. */
export function showPath(path: Uint8Array | string): string {
  if (typeof path === "string") return JSON.stringify(path)
  let out = ""
  const text = Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString("utf8")
  // A lossless round trip means the bytes were valid UTF-8.
  if (Buffer.from(text, "utf8").equals(path) && !text.includes("\0")) return JSON.stringify(text)
  for (const b of path) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`
  return `"${out}"`
}

/** A header block whose checksum does not match its bytes: corrupt or not a tar at all. */
export class TarChecksumError extends Data.TaggedError("TarChecksumError")<{
  readonly offset: number
  /** the name field as far as it could be read */
  readonly path: string
  readonly expected: number
  readonly actual: number
}> {
  override get message() {
    return `tar header at byte ${this.offset} (entry ${this.path}) has checksum ${this.expected}, computed ${this.actual}: the archive is corrupt or not a tar`
  }
}

/** The stream ended inside an entry's header or body. */
export class TarTruncatedError extends Data.TaggedError("TarTruncatedError")<{
  readonly offset: number
  /** the entry being read ("" when the cut came inside a header) */
  readonly path: string
  readonly expected: number
  readonly actual: number
}> {
  override get message() {
    return `tar truncated at byte ${this.offset}: entry ${this.path || "(header)"} needed ${this.expected} more bytes, only ${this.actual} arrived`
  }
}

/** A structurally invalid header or PAX record, or an entry type cairn does not extract. */
export class TarFormatError extends Data.TaggedError("TarFormatError")<{
  readonly offset: number
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `invalid tar entry ${this.path || "(unnamed)"} at byte ${this.offset}: ${this.reason}`
  }
}

/** A layer entry that would touch something outside the target, or that cannot be applied safely. */
export class UnsafeEntryError extends Data.TaggedError("UnsafeEntryError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `refusing layer entry ${this.path}: ${this.reason}`
  }
}

/** The uncompressed layer hashed to another diffID than the one expected (image-spec config.md, rootfs.diff_ids). */
export class DiffIdMismatchError extends Data.TaggedError("DiffIdMismatchError")<{
  readonly expected: string
  readonly actual: string
}> {
  override get message() {
    return `layer diffID mismatch: expected ${this.expected}, the tar hashes to ${this.actual}`
  }
}

/** The compressed blob hashed to another digest than the one expected (image-spec descriptor.md). */
export class LayerDigestMismatchError extends Data.TaggedError("LayerDigestMismatchError")<{
  readonly expected: string
  readonly actual: string
  readonly bytes: number
}> {
  override get message() {
    return `layer blob digest mismatch: expected ${this.expected}, the ${this.bytes} bytes hash to ${this.actual}`
  }
}

/** The compressed stream is damaged (gzip/zstd error or cut short). */
export class DecompressionError extends Data.TaggedError("DecompressionError")<{
  readonly compression: string
  readonly reason: string
}> {
  override get message() {
    return `${this.compression} stream is corrupt or truncated: ${this.reason}`
  }
}

/** A filesystem operation failed while applying an entry. */
export class ApplyEntryError extends Data.TaggedError("ApplyEntryError")<{
  readonly path: string
  readonly operation: string
  readonly reason: string
}> {
  override get message() {
    return `applying layer entry ${this.path} failed in ${this.operation}: ${this.reason}`
  }
}
