// The roots that keep blobs alive: index.json entries and live leases.
import type { Digest } from "@cairn/digest"
import type { Descriptor } from "@cairn/oci-spec/lazy"
import type { BlobStore } from "./blobStore.js"
import { hasChildren, MAX_DOCUMENT_BYTES } from "./graph.js"
import { readIndex } from "./indexFile.js"
import { type Lease, listLeases } from "./leases.js"

/**
 * A leased digest is bare; to protect what a leased manifest references, read its mediaType
 * (manifests and indexes carry it; image-spec says they SHOULD) and descend when it has children.
 */
export async function descriptorForDigest(blobs: BlobStore, digest: Digest): Promise<Descriptor | undefined> {
  const s = await blobs.stat(digest)
  if (!s) return undefined
  let mediaType = "application/octet-stream"
  if (s.size <= MAX_DOCUMENT_BYTES) {
    try {
      const json = JSON.parse(Buffer.from(await blobs.read(digest, MAX_DOCUMENT_BYTES)).toString("utf8")) as { mediaType?: unknown }
      if (typeof json?.mediaType === "string" && hasChildren(json.mediaType)) mediaType = json.mediaType
    } catch {
      // not JSON: a leaf
    }
  }
  return { mediaType, digest, size: s.size }
}

export interface Roots {
  readonly index: readonly Descriptor[]
  readonly leased: readonly Descriptor[]
  readonly live: readonly Lease[]
  readonly expired: readonly Lease[]
}

export async function collectRoots(blobs: BlobStore): Promise<Roots> {
  const index = (await readIndex(blobs.layout)).manifests
  const { live, expired } = await listLeases(blobs.layout)
  const leased: Descriptor[] = []
  for (const d of new Set(live.flatMap((l) => l.digests))) {
    const desc = await descriptorForDigest(blobs, d)
    if (desc) leased.push(desc)
  }
  return { index, leased, live, expired }
}
