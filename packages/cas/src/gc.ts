// Mark and sweep: mark everything reachable from index.json and live leases, sweep the rest.
// Runs holding the index lock (no tag can appear mid-sweep) and then the gc lock (no blob is
// committed or deduplicated mid-sweep): a put that finds its blob present is never undone.
import { unlink } from "node:fs/promises"
import type { Digest } from "@cairn/digest"
import type { BlobInfo, BlobStore } from "./blobStore.js"
import { walkGraph } from "./graph.js"
import { releaseLease } from "./leases.js"
import { tryLock, withLock } from "./lockFile.js"
import { collectRoots } from "./roots.js"

export interface GcOptions {
  /** list what would be freed without removing anything */
  readonly dryRun?: boolean
  /**
   * drop partial ingests (left by killed or aborted writers) untouched for this long and held by no
   * live writer (default INGEST_GRACE_MS; Infinity keeps them all)
   */
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
  /** bytes of the partial ingests removed (or that would be) */
  readonly ingestBytes: number
}

/** A partial ingest untouched this long, with no live writer, is reclaimed by GC (an hour: a stalled download has long given up). */
export const INGEST_GRACE_MS = 60 * 60 * 1000

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
      let ingestBytes = 0
      for (const ing of await blobs.staleIngests(options.ingestMaxAgeMs ?? INGEST_GRACE_MS)) {
        if (dryRun) {
          removedIngests.push(ing.path)
          ingestBytes += ing.size
          continue
        }
        // holding its lock: a writer that resumes it right now is never cut off
        const lock = ing.digest === undefined ? undefined : await tryLock(`${ing.path}.lock`)
        if (lock !== undefined && lock.handle === undefined) continue
        try {
          await unlink(ing.path).catch(() => {})
          await unlink(`${ing.path}.hashstate`).catch(() => {})
        } finally {
          await lock?.handle?.release()
        }
        removedIngests.push(ing.path)
        ingestBytes += ing.size
      }
      if (!dryRun) await blobs.cleanDebris()
      return { dryRun, removed, bytes: removed.reduce((n, b) => n + b.size, 0), kept, expiredLeases, removedIngests, ingestBytes }
    })
  )
}
