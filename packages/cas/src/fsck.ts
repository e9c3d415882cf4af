// Consistency check: every blob re-hashed, every referenced blob present with the size its
// descriptor says, tags that point nowhere, blobs nothing references. Optionally moves
// corrupt blobs to quarantine/ so nothing serves them again.
import { createReadStream } from "node:fs"
import { rename } from "node:fs/promises"
import { join } from "node:path"
import { type Digest, digestAlgorithm, digestHex, digestReadable } from "@cairn/digest"
import type { BlobInfo, BlobStore } from "./blobStore.js"
import { fsyncDir } from "./atomicFile.js"
import { BlobNotFoundError, GraphCycleError, GraphDepthError, GraphDocumentError } from "./errors.js"
import { INGEST_GRACE_MS } from "./gc.js"
import { walkGraph } from "./graph.js"
import { REF_NAME } from "./refName.js"
import { collectRoots } from "./roots.js"

export interface FsckOptions {
  /** move blobs whose content does not hash to their name into quarantine/ */
  readonly quarantine?: boolean
  /** re-hash every blob (default true; false checks structure only) */
  readonly rehash?: boolean
  /** partial ingests untouched this long with no live writer are listed as stale (default: GC's grace) */
  readonly ingestMaxAgeMs?: number
}

export interface FsckReport {
  /** true when nothing is corrupt, missing, mis-sized, dangling or broken (orphans are fine) */
  readonly ok: boolean
  readonly blobs: number
  readonly bytes: number
  readonly corrupt: ReadonlyArray<{ digest: Digest; actual: Digest; quarantinedTo?: string }>
  readonly missing: ReadonlyArray<{ digest: Digest; chain: readonly Digest[] }>
  readonly sizeMismatches: ReadonlyArray<{ digest: Digest; expected: number; actual: number; chain: readonly Digest[] }>
  readonly danglingTags: ReadonlyArray<{ name: string; digest: Digest }>
  readonly brokenDocuments: ReadonlyArray<{ chain: readonly string[]; reason: string }>
  /** absent non-distributable layers with `urls` (allowed: fetched from their urls, never an error) */
  readonly foreign: ReadonlyArray<{ digest: Digest; urls: readonly string[]; chain: readonly Digest[] }>
  /** blobs neither index.json nor a live lease reaches (GC would remove them) */
  readonly orphans: readonly BlobInfo[]
  /** partial ingests no live writer holds, older than the grace period: GC removes them (they do not make ok false) */
  readonly staleIngests: ReadonlyArray<{ digest?: Digest; path: string; size: number; mtimeMs: number }>
}

export async function fsck(blobs: BlobStore, options: FsckOptions = {}): Promise<FsckReport> {
  const roots = await collectRoots(blobs)
  const reachable = new Set<Digest>()
  const missing: Array<{ digest: Digest; chain: readonly Digest[] }> = []
  const sizeMismatches: Array<{ digest: Digest; expected: number; actual: number; chain: readonly Digest[] }> = []
  const danglingTags: Array<{ name: string; digest: Digest }> = []
  const brokenDocuments: Array<{ chain: readonly string[]; reason: string }> = []
  const foreign = new Map<Digest, { digest: Digest; urls: readonly string[]; chain: readonly Digest[] }>()
  // one walk per root, so one broken image does not hide the state of the others
  for (const [i, root] of [...roots.index, ...roots.leased].entries()) {
    const isIndexEntry = i < roots.index.length
    try {
      const r = await walkGraph(blobs, [root], { missing: "report" })
      for (const n of r.nodes) reachable.add(n.descriptor.digest)
      for (const n of r.missing) {
        const tag = n.chain.length === 1 && isIndexEntry ? root.annotations?.[REF_NAME] : undefined
        if (tag !== undefined) danglingTags.push({ name: tag, digest: n.descriptor.digest })
        else missing.push({ digest: n.descriptor.digest, chain: n.chain })
      }
      for (const n of r.foreign) {
        if (!foreign.has(n.descriptor.digest)) foreign.set(n.descriptor.digest, { digest: n.descriptor.digest, urls: n.descriptor.urls ?? [], chain: n.chain })
      }
      for (const n of r.sizeMismatches) {
        sizeMismatches.push({ digest: n.descriptor.digest, expected: n.descriptor.size, actual: n.storedSize ?? 0, chain: n.chain })
      }
    } catch (e) {
      if (e instanceof GraphCycleError || e instanceof GraphDepthError || e instanceof GraphDocumentError) {
        brokenDocuments.push({ chain: "chain" in e ? e.chain : [], reason: e.message })
      } else if (e instanceof BlobNotFoundError) {
        missing.push({ digest: e.digest as Digest, chain: e.chain as Digest[] })
      } else throw e
    }
  }
  const corrupt: Array<{ digest: Digest; actual: Digest; quarantinedTo?: string }> = []
  const orphans: BlobInfo[] = []
  let count = 0
  let bytes = 0
  for await (const blob of blobs.list()) {
    count++
    bytes += blob.size
    if (!reachable.has(blob.digest)) orphans.push(blob)
    if (options.rehash === false) continue
    let actual: Digest
    try {
      actual = (await digestReadable(createReadStream(blobs.layout.blobPath(blob.digest)), digestAlgorithm(blob.digest))).digest
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue // removed meanwhile
      throw e
    }
    if (actual === blob.digest) continue
    if (options.quarantine) {
      const to = join(blobs.layout.quarantineDir, `${digestAlgorithm(blob.digest)}-${digestHex(blob.digest)}-${Date.now()}`)
      await blobs.withGcLock(async () => {
        await blobs.layout.ensureDir(blobs.layout.quarantineDir)
        await rename(blobs.layout.blobPath(blob.digest), to)
        await fsyncDir(join(blobs.layout.blobsDir, digestAlgorithm(blob.digest)))
      })
      corrupt.push({ digest: blob.digest, actual, quarantinedTo: to })
    } else corrupt.push({ digest: blob.digest, actual })
  }
  const ok = corrupt.length + missing.length + sizeMismatches.length + danglingTags.length + brokenDocuments.length === 0
  const staleIngests = await blobs.staleIngests(options.ingestMaxAgeMs ?? INGEST_GRACE_MS)
  return { ok, blobs: count, bytes, corrupt, missing, sizeMismatches, danglingTags, brokenDocuments, foreign: [...foreign.values()], orphans, staleIngests }
}
