// Mark and sweep: mark everything reachable from index.json and live leases, sweep the rest.
// Runs holding the index lock (no tag can appear mid-sweep) and then the gc lock (no blob is
// committed or deduplicated mid-sweep): a put that finds its blob present is never undone.
import { unlink } from "node:fs/promises"
import type { Digest } from "@cairn/digest"
import type { BlobInfo, BlobStore } from "./blobStore.js"
import { walkGraph } from "./graph.js"
import { releaseLease } from "./leases.js"
import { withLock } from "./lockFile.js"
import { collectRoots } from "./roots.js"

export interface GcOptions {
  /** list what would be freed without removing anything */
  readonly dryRun?: boolean
  /** also drop resumable partial ingests untouched for this long (default: keep them) */
  readonly ingestMaxAgeMs?: number
}

export interface GcReport {
  readonly dryRun: boolean
  /** blobs removed (or, on a dry run, that would be) */
  readonly removed: readonly BlobInfo[]
  /** bytes freed (or that would be) */
  readonly bytes: number
  /** blobs kept because reachable, leased or being ingested */
  readonly kept: number
  readonly expiredLeases: readonly string[]
  readonly removedIngests: readonly string[]
}

export async function collectGarbage(blobs: BlobStore, options: GcOptions = {}): Promise<GcReport> {
  const layout = blobs.layout
  const dryRun = options.dryRun === true
  await layout.ensureDir(layout.locksDir)
  return withLock(layout.indexLock, () =>
    blobs.withGcLock(async () => {
      const roots = await collectRoots(blobs)
      // missing children are reported by fsck; here they only mean there is nothing to mark
      const marked = await walkGraph(blobs, [...roots.index, ...roots.leased], { missing: "report" })
      const live = new Set<Digest>(marked.nodes.map((n) => n.descriptor.digest))
      for (const d of await blobs.activeIngests()) live.add(d)
      const removed: BlobInfo[] = []
      let kept = 0
      for await (const blob of blobs.list()) {
        if (live.has(blob.digest)) {
          kept++
          continue
        }
        removed.push(blob)
        if (!dryRun) await blobs.deleteUnlocked(blob.digest)
      }
      const expiredLeases = roots.expired.map((l) => l.id)
      if (!dryRun) for (const id of expiredLeases) await releaseLease(layout, id)
      const removedIngests: string[] = []
      if (options.ingestMaxAgeMs !== undefined) {
        const cutoff = Date.now() - options.ingestMaxAgeMs
        for (const ing of await blobs.listIngests()) {
          if (ing.active || ing.mtimeMs > cutoff) continue
          removedIngests.push(ing.path)
          if (!dryRun) {
            await unlink(ing.path).catch(() => {})
            await unlink(`${ing.path}.hashstate`).catch(() => {})
          }
        }
      }
      if (!dryRun) await blobs.cleanDebris()
      return { dryRun, removed, bytes: removed.reduce((n, b) => n + b.size, 0), kept, expiredLeases, removedIngests }
    })
  )
}
