import * as Data from "effect/Data"

/** A directory that is not (or not yet) a usable OCI image layout. */
export class LayoutError extends Data.TaggedError("LayoutError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `${this.path}: not a usable OCI image layout: ${this.reason}`
  }
}

/** index.json (or another layout document) that cannot be read as the spec requires; names the file. */
export class IndexFileError extends Data.TaggedError("IndexFileError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

/** No blob under this digest. `chain` lists the descriptors walked to reach it, root first. */
export class BlobNotFoundError extends Data.TaggedError("BlobNotFoundError")<{
  readonly digest: string
  readonly chain: readonly string[]
}> {
  override get message() {
    const via = this.chain.length > 0 ? ` (referenced via ${this.chain.join(" -> ")})` : ""
    return `blob ${this.digest} is not in the store${via}`
  }
}

/** A tag name outside the image-spec `org.opencontainers.image.ref.name` grammar (annotations.md). */
export class InvalidTagError extends Data.TaggedError("InvalidTagError")<{
  readonly name: string
  readonly reason: string
}> {
  override get message() {
    return `invalid tag ${JSON.stringify(this.name)}: ${this.reason}`
  }
}

export class TagNotFoundError extends Data.TaggedError("TagNotFoundError")<{
  readonly name: string
  readonly path: string
}> {
  override get message() {
    return `no tag ${JSON.stringify(this.name)} in ${this.path}`
  }
}

/** A cross-process lock could not be taken in time; `holder` is what the lock file says. */
export class LockTimeoutError extends Data.TaggedError("LockTimeoutError")<{
  readonly path: string
  readonly holder: string
  readonly waitedMs: number
}> {
  override get message() {
    return `lock ${this.path} still held by ${this.holder || "an unknown process"} after ${this.waitedMs} ms: is that process stuck? (a dead holder's lock is broken automatically)`
  }
}

/** A resumable ingest for this digest is being written by another live process. */
export class IngestBusyError extends Data.TaggedError("IngestBusyError")<{
  readonly digest: string
  /** the lock token of the process writing it: pid, start time, nonce */
  readonly holder: string
  /** how long the holder's partial bytes did not change before giving up */
  readonly stalledMs?: number
}> {
  override get message() {
    const pid = this.holder.split(" ")[0] ?? this.holder
    const stalled = this.stalledMs === undefined ? "" : ` and wrote nothing for ${Math.round(this.stalledMs / 1000)} s`
    return `another process (pid ${pid}) is storing ${this.digest}${stalled}: retry when it has finished, or stop it if it hangs`
  }
}

/** resume() called with an offset that is not the bytes already held for that digest. */
export class IngestOffsetError extends Data.TaggedError("IngestOffsetError")<{
  readonly digest: string
  readonly expected: number
  readonly actual: number
}> {
  override get message() {
    return `cannot resume ${this.digest} at offset ${this.actual}: the store holds ${this.expected} bytes of it (call ingestOffset first)`
  }
}

/** The descriptor graph loops back on itself; `chain` ends with the repeated digest. */
export class GraphCycleError extends Data.TaggedError("GraphCycleError")<{
  readonly chain: readonly string[]
}> {
  override get message() {
    return `descriptor graph has a cycle: ${this.chain.join(" -> ")}`
  }
}

/** The descriptor graph is nested deeper than allowed (a hostile or broken image). */
export class GraphDepthError extends Data.TaggedError("GraphDepthError")<{
  readonly chain: readonly string[]
  readonly maxDepth: number
}> {
  override get message() {
    return `descriptor graph deeper than ${this.maxDepth} levels: ${this.chain.join(" -> ")}`
  }
}

/** A manifest or index in the graph that cannot be decoded; `chain` ends with its digest. */
export class GraphDocumentError extends Data.TaggedError("GraphDocumentError")<{
  readonly chain: readonly string[]
  readonly reason: string
}> {
  override get message() {
    return `cannot read ${this.chain.at(-1)} (via ${this.chain.join(" -> ")}): ${this.reason}`
  }
}

/** An archive that names a path outside itself (absolute or with `..`), refused before anything is stored. */
export class UnsafeArchivePathError extends Data.TaggedError("UnsafeArchivePathError")<{
  readonly archive: string
  readonly path: string
}> {
  override get message() {
    return `${this.archive}: refusing path ${JSON.stringify(this.path)}: absolute or escaping with ".."`
  }
}

/** An archive that is not a docker-archive / oci-archive cairn can read, or is inconsistent. */
export class ArchiveFormatError extends Data.TaggedError("ArchiveFormatError")<{
  readonly archive: string
  readonly reason: string
}> {
  override get message() {
    return `${this.archive}: ${this.reason}`
  }
}

/** A layer whose compression cairn cannot convert for the requested output. */
export class UnsupportedLayerError extends Data.TaggedError("UnsupportedLayerError")<{
  readonly digest: string
  readonly mediaType: string
  readonly reason: string
}> {
  override get message() {
    return `layer ${this.digest} (${this.mediaType}): ${this.reason}`
  }
}

export class LeaseNotFoundError extends Data.TaggedError("LeaseNotFoundError")<{
  readonly id: string
}> {
  override get message() {
    return `no live lease ${JSON.stringify(this.id)} (expired or released)`
  }
}

/** A file-system failure (permissions, disk full, ...) with the errno code and the path involved. */
export class StoreIoError extends Data.TaggedError("StoreIoError")<{
  readonly code: string
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `${this.path ? `${this.path}: ` : ""}${this.reason}`
  }
}
