import { DigestErrors, errorGuard } from "@cairn/digest"
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

/**
 * A layer extracted before its lower layers exist (OverlayFormOptions.lowersLater) hardlinks to a
 * file it does not hold itself: only a lower layer can have it, so the layer must be extracted
 * again once the lowers are there.
 */
export class LowersNeededError extends Data.TaggedError("LowersNeededError")<{
  readonly path: string
  readonly linkpath: string
}> {
  override get message() {
    return `layer entry ${this.path} hardlinks to ${this.linkpath}, which is not in the layer: it needs the lower layers extracted first`
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

/** A path that is missing from the merged tree or of the wrong type for the operation. */
export class ViewPathError extends Data.TaggedError("ViewPathError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `merged view: ${this.path}: ${this.reason}`
  }
}

/** A layer's bytes could not be read from its source (the opener or its stream failed). */
export class LayerSourceError extends Data.TaggedError("LayerSourceError")<{
  readonly layer: number
  readonly reason: string
}> {
  override get message() {
    return `reading layer ${this.layer} failed: ${this.reason}`
  }
}

/** zstd compression was asked for but neither node:zlib nor a zstd binary offers it. */
export class ZstdUnavailableError extends Data.TaggedError("ZstdUnavailableError")<{
  readonly reason: string
}> {
  override get message() {
    return `zstd compression is unavailable: ${this.reason}. Install the zstd command (Debian/Ubuntu: apt-get install zstd) or use Node >= 22.15, whose node:zlib has zstd`
  }
}

/** Writing the layer blob failed (the destination, the compressor, or the entries' producer). */
export class LayerWriteError extends Data.TaggedError("LayerWriteError")<{
  readonly destination: string
  readonly reason: string
}> {
  override get message() {
    return `writing layer to ${this.destination} failed: ${this.reason}`
  }
}

/** A directory tree could not be read while computing a diff. */
export class DiffSourceError extends Data.TaggedError("DiffSourceError")<{
  readonly path: string
  readonly operation: string
  readonly reason: string
}> {
  override get message() {
    return `reading ${this.path} for a diff failed in ${this.operation}: ${this.reason}`
  }
}

/** Extended attributes could not be read (getfattr missing or failing). */
export class XattrReadError extends Data.TaggedError("XattrReadError")<{
  readonly root: string
  readonly reason: string
}> {
  override get message() {
    return `reading extended attributes under ${this.root} failed: ${this.reason}`
  }
}

/** An overlayfs upper directory uses a feature whose data lives outside it (redirect_dir, metacopy). */
export class UnsupportedUpperError extends Data.TaggedError("UnsupportedUpperError")<{
  readonly path: string
  readonly feature: string
}> {
  override get message() {
    return `cannot turn overlay upper entry ${this.path} into a layer: it uses ${this.feature}, whose data lives in a lower layer; mount the overlay without ${this.feature} (redirect_dir=off, metacopy=off) or diff the merged tree against the lower one with diffDirs`
  }
}

/** A file entry whose body did not have exactly the announced number of bytes. */
export class TarBodySizeError extends Data.TaggedError("TarBodySizeError")<{
  readonly path: string
  readonly expected: number
  /** bytes received; when `early`, at least this many arrived before writing stopped */
  readonly actual: number
  readonly early: boolean
}> {
  override get message() {
    return this.early
      ? `tar entry ${this.path}: header announces ${this.expected} bytes but the body has more (${this.actual} so far)`
      : `tar entry ${this.path}: header announces ${this.expected} bytes but the body has ${this.actual}`
  }
}

/** A header value that no tar encoding cairn writes can hold, or an entry that is malformed. */
export class TarHeaderError extends Data.TaggedError("TarHeaderError")<{
  readonly path: string
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `tar entry ${this.path}: cannot write ${this.field}: ${this.reason}`
  }
}

/** The writer was finished, or an earlier entry failed and left the archive unusable. */
export class TarWriterClosedError extends Data.TaggedError("TarWriterClosedError")<{
  readonly reason: string
}> {
  override get message() {
    return `tar writer is closed: ${this.reason}`
  }
}

/** Every typed failure of @cairn/overlay (with the digest checks it runs), as one list: the union type and the guard. */
export const OverlayErrors = [
  ApplyEntryError,
  DecompressionError,
  DiffIdMismatchError,
  DiffSourceError,
  LayerDigestMismatchError,
  LayerSourceError,
  LayerWriteError,
  TarBodySizeError,
  TarChecksumError,
  TarFormatError,
  TarHeaderError,
  TarTruncatedError,
  TarWriterClosedError,
  UnsafeEntryError,
  UnsupportedUpperError,
  ViewPathError,
  XattrReadError,
  ZstdUnavailableError,
  ...DigestErrors
] as const

export type OverlayError = InstanceType<(typeof OverlayErrors)[number]>

export const isOverlayError = errorGuard(OverlayErrors)
