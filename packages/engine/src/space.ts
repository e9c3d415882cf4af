// Space accounting (`docker system df -v`), prune and fsck of an engine root: Effect programs over
// the Snapshotter, with the directory walks and the store's GC and fsck as their leaves.
import { readdir, rm } from "node:fs/promises"
import { basename, join } from "node:path"
import { type Digest, chainIds, digestHex } from "@cairn/digest"
import type { FsckReport } from "@cairn/cas"
import { UnreadableStateError, UnsupportedImageError } from "./errors.js"
import { pidAlive, readJson, tempOwner } from "./atomic.js"
import type { EngineContext } from "./context.js"
import { type ContainerMeta, isMountedNow, readContainerMetas, reconcileMounts } from "./containers.js"
import { attempt } from "./attempt.js"
import type { EngineError } from "./engineError.js"
import { imageBlobs, type LoadedImage, loadImage } from "./images.js"
import { locked } from "./lock.js"
import { leasedChains } from "./snapshotLease.js"
import * as Effect from "effect/Effect"
import { type SnapshotMeta, treeUsage } from "./snapshots.js"

export interface DiskUsage {
  readonly images: ReadonlyArray<{ name?: string; names: ReadonlyArray<string>; digest: Digest; size: number; shared: number; unique: number; containers: number }>
  readonly snapshots: ReadonlyArray<{ chainId: Digest; diffId: Digest; size: number; images: number; containers: number }>
  readonly containers: ReadonlyArray<{ id: string; name: string; image: string; size: number; mounted: boolean }>
  readonly totals: { readonly images: number; readonly snapshots: number; readonly containers: number; readonly ingests: number }
  /** partial downloads/uploads in the store's ingest area; stale ones (no live writer, past the grace period) GC removes */
  readonly ingests: { readonly count: number; readonly active: number; readonly bytes: number; readonly stale: number }
  readonly reclaimable: { readonly blobs: number; readonly snapshots: number; readonly ingests: number; readonly total: number }
}

export interface PruneResult {
  /** snapshot chainIDs, blob digests and `ingest/NAME` partials removed (or, dry run, that would be) */
  readonly removed: Array<string>
  readonly bytes: number
  /** of `bytes`, those of stale partial ingests */
  readonly ingestBytes: number
}

export interface FsckResult {
  readonly ok: boolean
  readonly store: FsckReport
  /** one readable line per problem found in snapshots and containers */
  readonly problems: ReadonlyArray<string>
  /** what repair changed */
  readonly repaired: ReadonlyArray<string>
}

/** Every listed image; one that cannot be read stops prune (UnreadableStateError), as its snapshots would look unused. */
async function loadAll(ctx: EngineContext): Promise<Array<LoadedImage>> {
  const out: Array<LoadedImage> = []
  for (const s of await ctx.store.images()) {
    try {
      out.push(await loadImage(ctx, s))
    } catch (e) {
      // an image the engine cannot use (its config disagrees with its manifest, an unknown kind, an
      // index without this host's platform) never had snapshots: nothing of it is in use. Only what could not be *read* stops prune.
      if (e instanceof UnsupportedImageError) continue
      const label = s.names.length > 0 ? `image ${s.names.join(", ")} (${s.descriptor.digest})` : `image ${s.descriptor.digest}`
      throw new UnreadableStateError({ what: label, path: ctx.layout.root, reason: (e as Error).message })
    }
  }
  return out
}


/** Snapshot chainIDs that images, containers or live operations use. */
async function referencedChains(ctx: EngineContext, images: ReadonlyArray<LoadedImage>): Promise<Set<string>> {
  const live = new Set<string>()
  for (const img of images) for (const c of img.chain) live.add(c)
  for (const c of await readContainerMetas(ctx, { strict: true })) for (const ch of c.chain) live.add(ch)
  for (const c of await leasedChains(ctx.layout)) live.add(c)
  return live
}

export const df = (ctx: EngineContext): Effect.Effect<DiskUsage, EngineError> =>
  Effect.gen(function*() {
    const images = yield* attempt("read the images of", ctx.layout.root, () => loadAll(ctx))
    const containers = yield* attempt("list containers in", ctx.layout.containers, () => readContainerMetas(ctx))
    const snaps = yield* ctx.snapshotter.walk()
    const containerSizes = yield* attempt("measure containers in", ctx.layout.containers, () =>
      Promise.all(containers.map(async (c) => (await treeUsage(join(ctx.layout.container(c.id), "upper"))).size))
    )
    const dry = yield* prune(ctx, { dryRun: true })
    const ingests = yield* attempt("list ingests of", ctx.layout.root, () => ctx.store.ingests())
    const live = yield* attempt("read what is in use in", ctx.layout.root, () => referencedChains(ctx, images))
    return usage(images, containers, containerSizes, snaps, dry, ingests, live)
  })

/** df's rows and totals from what it read. */
function usage(
  images: ReadonlyArray<LoadedImage>,
  containers: ReadonlyArray<ContainerMeta>,
  containerSizes: ReadonlyArray<number>,
  snaps: ReadonlyArray<SnapshotMeta>,
  dry: PruneResult,
  ingests: ReadonlyArray<{ size: number; active: boolean }>,
  live: ReadonlySet<string>
): DiskUsage {
  const users = new Map<string, number>()
  for (const img of images) for (const b of new Set(imageBlobs(img).map((x) => x.digest))) users.set(b, (users.get(b) ?? 0) + 1)
  const imageRows = images.map((img) => {
    const seen = new Set<string>()
    let shared = 0
    let unique = 0
    for (const b of imageBlobs(img)) {
      if (seen.has(b.digest)) continue
      seen.add(b.digest)
      if ((users.get(b.digest) ?? 0) > 1) shared += b.size
      else unique += b.size
    }
    return {
      ...(img.names[0] === undefined ? {} : { name: img.names[0] }),
      names: img.names,
      digest: img.descriptor.digest,
      size: shared + unique,
      shared,
      unique,
      containers: containers.filter((c) => c.imageDigest === img.digest).length
    }
  })
  const snapshotRows = snaps.map((s) => ({
    chainId: s.chainId,
    diffId: s.diffId,
    size: s.size,
    images: images.filter((i) => i.chain.includes(s.chainId)).length,
    containers: containers.filter((c) => c.chain.includes(s.chainId)).length
  }))
  const containerRows = containers.map((c, i) => ({
    id: c.id,
    name: c.name,
    image: c.image,
    size: containerSizes[i]!,
    mounted: c.mounted !== undefined
  }))
  const snapBytes = snaps.filter((s) => !live.has(s.chainId)).reduce((n, s) => n + s.size, 0)
  const allBlobs = new Set<string>()
  let imageBytes = 0
  for (const img of images) for (const b of imageBlobs(img)) if (!allBlobs.has(b.digest)) {
    allBlobs.add(b.digest)
    imageBytes += b.size
  }
  return {
    images: imageRows,
    snapshots: snapshotRows,
    containers: containerRows,
    totals: {
      images: imageBytes,
      snapshots: snaps.reduce((n, s) => n + s.size, 0),
      containers: containerRows.reduce((n, c) => n + c.size, 0),
      ingests: ingests.reduce((n, i) => n + i.size, 0)
    },
    ingests: {
      count: ingests.length,
      active: ingests.filter((i) => i.active).length,
      bytes: ingests.reduce((n, i) => n + i.size, 0),
      stale: dry.ingestBytes
    },
    reclaimable: { blobs: dry.bytes - snapBytes - dry.ingestBytes, snapshots: snapBytes, ingests: dry.ingestBytes, total: dry.bytes }
  }
}

/** Removes snapshots and blobs nothing uses (never what a container, an image or a live operation holds). */
export const prune = (ctx: EngineContext, options: { dryRun?: boolean } = {}): Effect.Effect<PruneResult, EngineError> =>
  locked(
    ctx.layout.locks,
    "containers",
    Effect.gen(function*() {
      const dryRun = options.dryRun === true
      const removed: Array<string> = []
      let bytes = 0
      const live = yield* attempt("read what is in use in", ctx.layout.root, async () => referencedChains(ctx, await loadAll(ctx)))
      for (const s of yield* ctx.snapshotter.walk()) {
        if (live.has(s.chainId)) continue
        removed.push(s.chainId)
        bytes += s.size
        if (!dryRun) yield* ctx.snapshotter.remove(s.chainId)
      }
      const gc = yield* attempt("collect garbage in", ctx.layout.root, () => ctx.store.gc({ dryRun }))
      for (const b of gc.removed) removed.push(b.digest)
      for (const p of gc.removedIngests) removed.push(`ingest/${basename(p)}`)
      bytes += gc.bytes + gc.ingestBytes
      // build steps whose layer went
      if (!dryRun) yield* attempt("prune the build cache of", ctx.layout.root, async () => (await import("./build/cache.js")).pruneBuildCache(ctx))
      return { removed, bytes, ingestBytes: gc.ingestBytes }
    })
  )

export const fsck = (ctx: EngineContext, options: { repair?: boolean } = {}): Effect.Effect<FsckResult, EngineError> =>
  Effect.gen(function*() {
    const repair = options.repair === true
    const checked = yield* attempt("check", ctx.layout.root, () => check(ctx, repair))
    if (!repair) return checked
    // then mounts that disagree with their container's metadata
    const r = yield* reconcileMounts(ctx)
    const repaired = [...checked.repaired]
    for (const id of r.unmounted) repaired.push(`unmounted stale mount of container ${id}`)
    for (const id of r.marked) repaired.push(`marked container ${id} unmounted`)
    return { ...checked, repaired }
  })

/** The store's fsck, then the snapshots' and containers' directories; `repair` removes what is broken. */
async function check(ctx: EngineContext, repair: boolean): Promise<FsckResult> {
  const problems: Array<string> = []
  const repaired: Array<string> = []
  const store = await ctx.store.fsck(repair ? { quarantine: true } : {})
  const metas = new Map<string, SnapshotMeta>()
  for (const name of await readdir(ctx.layout.snapshots).catch(() => [] as Array<string>)) {
    const dir = join(ctx.layout.snapshots, name)
    if (name.startsWith(".")) {
      const pid = tempOwner(name)
      if (pid !== undefined && pidAlive(pid)) continue // an extraction in progress
      problems.push(`snapshots/${name}: leftover of an interrupted extraction`)
      if (repair) {
        await rm(dir, { recursive: true, force: true })
        repaired.push(`removed snapshots/${name}`)
      }
      continue
    }
    const meta = await readJson<SnapshotMeta>(join(dir, "meta.json")).catch(() => undefined)
    let problem: string | undefined
    if (meta === undefined) problem = "no readable meta.json"
    else if (digestHex(meta.chainId) !== name) problem = `meta.json names chain ${meta.chainId}`
    else if (meta.parent === undefined ? meta.chainId !== meta.diffId : chainIds([meta.parent, meta.diffId])[1] !== meta.chainId) {
      problem = `chainID ${meta.chainId} is not chainID(${meta.parent ?? "-"}, ${meta.diffId})`
    }
    if (problem !== undefined) {
      problems.push(`snapshots/${name}: ${problem}`)
      if (repair) {
        await rm(dir, { recursive: true, force: true })
        repaired.push(`removed snapshots/${name} (re-extracted when needed)`)
      }
    } else metas.set(meta!.chainId, meta!)
  }
  for (const m of metas.values()) {
    if (m.parent !== undefined && !metas.has(m.parent)) problems.push(`snapshot ${m.chainId}: parent snapshot ${m.parent} is missing`)
  }
  for (const name of await readdir(ctx.layout.containers).catch(() => [] as Array<string>)) {
    if (!name.startsWith(".")) continue
    const pid = tempOwner(name)
    if (pid !== undefined && pidAlive(pid)) continue
    problems.push(`containers/${name}: leftover of an interrupted create or remove`)
    if (repair) {
      await rm(join(ctx.layout.containers, name), { recursive: true, force: true })
      repaired.push(`removed containers/${name}`)
    }
  }
  for (const c of await readContainerMetas(ctx)) {
    for (const ch of c.chain) if (!metas.has(ch)) problems.push(`container ${c.id}: snapshot ${ch} of its image is missing`)
    const live = await isMountedNow(ctx, c.id)
    const kernelKind = c.mounted === undefined || c.mounted.driver === "kernel" || c.mounted.driver === "fuse"
    if (kernelKind && live !== (c.mounted !== undefined)) {
      problems.push(`container ${c.id}: metadata says ${c.mounted ? "mounted" : "unmounted"}, the kernel says ${live ? "mounted" : "unmounted"}`)
    }
  }
  return { ok: store.ok && problems.length === 0, store, problems, repaired }
}
