// Copy an image graph between layouts: walk the source first (so a broken or cyclic graph copies
// nothing), then store only the blobs the destination lacks, children before parents, under a
// lease so a concurrent GC in the destination cannot take them before the tag lands.
import type { Digest } from "@cairn/digest"
import type { Descriptor } from "@cairn/oci-spec/lazy"
import type { BlobStore } from "./blobStore.js"
import { type WalkOptions, walkGraph } from "./graph.js"
import { createLease, releaseLease } from "./leases.js"
import { REF_NAME, validateRefName } from "./refName.js"
import { addRoot, tag } from "./tags.js"

export interface CopyRoot {
  readonly descriptor: Descriptor
  /** tag to give it in the destination; untagged roots are kept as plain index.json entries */
  readonly tag?: string
}

export interface CopyReport {
  readonly copied: readonly Digest[]
  readonly skipped: readonly Digest[]
  readonly bytes: number
}

export async function copyGraph(
  source: BlobStore,
  target: BlobStore,
  roots: readonly CopyRoot[],
  options: WalkOptions = {}
): Promise<CopyReport> {
  for (const r of roots) if (r.tag !== undefined) validateRefName(r.tag)
  const { nodes } = await walkGraph(source, roots.map((r) => r.descriptor), { ...options, missing: "error" })
  const copied: Digest[] = []
  const skipped: Digest[] = []
  let bytes = 0
  const lease = await target.withGcLock(() => createLease(target.layout, { ttlMs: 24 * 3_600_000 }))
  try {
    for (const node of [...nodes].reverse()) {
      const d = node.descriptor
      if (await target.has(d.digest)) {
        await target.put({ digest: d.digest, size: d.size }, [], { lease: lease.id }) // pins it under the lease
        skipped.push(d.digest)
        continue
      }
      const r = await target.put({ digest: d.digest, size: d.size }, await source.get(d.digest), { lease: lease.id })
      ;(r.created ? copied : skipped).push(d.digest)
      if (r.created) bytes += r.size
    }
    for (const r of roots) {
      if (r.tag !== undefined) await tag(target, r.tag, r.descriptor)
      else {
        const { [REF_NAME]: _dropped, ...annotations } = r.descriptor.annotations ?? {}
        const { annotations: _all, ...rest } = r.descriptor
        await addRoot(target, Object.keys(annotations).length > 0 ? { ...rest, annotations } : rest)
      }
    }
  } finally {
    await target.withGcLock(() => releaseLease(target.layout, lease.id))
  }
  return { copied, skipped, bytes }
}
