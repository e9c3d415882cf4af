// What the blob store takes and gives: the caller's expectations of some bytes, the results of a
// put, and a staged blob awaiting its commit.
import type { Algorithm, Digest } from "@cairn/digest"

/** What the caller announces about the bytes; each given field is checked before the blob appears. */
export interface Expected {
  readonly digest?: Digest | string
  readonly size?: number
  /** hash algorithm when no digest is given (default sha256) */
  readonly algorithm?: Algorithm
  /** add the blob to this lease before it becomes visible, so GC cannot take it before it is referenced */
  readonly lease?: string
  /**
   * Keep what arrived of a blob named by its digest when its bytes stop early, for resume()
   * (default true). false: the partial goes, as for an archive member that no resume will finish.
   */
  readonly resumable?: boolean
}

/** A descriptor as the blob-transfer contract passes it (BlobSink.put). */
export interface BlobDescriptorLike {
  readonly digest: Digest | string
  readonly size: number
  readonly mediaType?: string
}

export interface PutResult {
  readonly digest: Digest
  readonly size: number
  /** false when the blob was already there (nothing rewritten) */
  readonly created: boolean
}

export interface BlobInfo {
  readonly digest: Digest
  readonly size: number
}

/** Bytes written and verified in the ingest area, not yet visible under their digest. */
export interface StagedBlob {
  readonly digest: Digest
  readonly size: number
  readonly path: string
  commit(options?: { lease?: string }): Promise<PutResult>
  discard(): Promise<void>
}

export interface GetOptions {
  /** re-hash while streaming; the stream fails with DigestMismatchError at the end on corruption */
  readonly verify?: boolean
}

export function isDescriptorLike(x: unknown): x is BlobDescriptorLike {
  return (
    typeof x === "object" &&
    x !== null &&
    !(x instanceof Uint8Array) &&
    typeof (x as { digest?: unknown }).digest === "string" &&
    !(Symbol.asyncIterator in x) &&
    !(Symbol.iterator in x)
  )
}
