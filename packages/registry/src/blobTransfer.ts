// The blob transfer contract between the registry client and a store. Defined here, by the consumer;
// @cairn/cas implements it structurally, so neither package imports the other.
import type { Digest } from "@cairn/digest"

export interface BlobDescriptor {
  readonly digest: Digest
  readonly size: number
  readonly mediaType?: string
}

/** Where pulled blobs go (a content store). */
export interface BlobSink {
  has(digest: Digest): Promise<boolean>
  /** Streams in, verifies size+digest; nothing is visible under the digest until verified. */
  put(desc: BlobDescriptor, data: AsyncIterable<Uint8Array>): Promise<{ created: boolean }>
  /** Bytes already held from an interrupted put of this digest (0 when none). */
  ingestOffset?(digest: Digest): Promise<number>
  /** Continues an interrupted put: `data` holds the blob's bytes from `offset` on. */
  resume?(desc: BlobDescriptor, offset: number, data: AsyncIterable<Uint8Array>): Promise<{ created: boolean }>
  /**
   * true: the sink gives back every lent chunk (@cairn/digest `lend`) once it is done with it, and
   * holds none after, nor hands one to two readers without `share`. The client then reads a big
   * blob into pooled memory and lends the sink its chunks. A sink without it gets chunks of its own.
   */
  readonly acceptsLent?: boolean
}

/** Where pushed blobs come from. */
export interface BlobSource {
  stat(digest: Digest): Promise<{ size: number } | undefined>
  /** The blob's bytes; called again for each retry. A Node Readable is fine. */
  open(digest: Digest): Promise<AsyncIterable<Uint8Array>>
}
