// Registry wiring: pull into the store (each layer extracted as soon as its blob is complete,
// while the others download), push from the store, copy between transports.
import type { Digest } from "@cairn/digest"
import { decodeConfig, type Descriptor, formatPlatform, layerCompression, platformRank } from "@cairn/oci-spec/lazy"
import { type BlobProgress, parseReference, pullAllPlatforms, pullImage, pushImage, type Reference, RegistryClient } from "@cairn/registry"
import * as Effect from "effect/Effect"
import type { EngineContext } from "./context.js"
import { adoptImage, exportImage, fetchArchive, fetchLayout, importImage } from "./importExport.js"
import { UnsupportedImageError } from "./errors.js"
import { findImage, type ImageSummary, loadImage, summarize } from "./images.js"
import { type ImageDestination, type ImageSource, locationName } from "./location.js"
import { normalizeName } from "./reference.js"
import { engineRegistries } from "./registries.js"
import { withSnapshotLease } from "./snapshotLease.js"
import { StreamingExtractor } from "./pullExtract.js"
import { ensureSnapshot, lowerDirs, readSnapshotMeta, type SnapshotContext, stackOf } from "./snapshots.js"

export interface TransferOptions {
  /** the registry client (credentials, plain HTTP); default a new one over ~/.docker/config.json */
  readonly client?: RegistryClient
  /** aborts the transfer: its requests and streams stop, and nothing it began becomes visible */
  readonly signal?: AbortSignal
}

export interface CopyOptions extends TransferOptions {
  /**
   * Copy a multi-platform image whole (`skopeo copy --all`): the index and every platform it names.
   * Default: this host's platform only, as skopeo does. To a docker-archive, which holds one
   * platform, the host's is written either way.
   */
  readonly allPlatforms?: boolean
}

export interface PullOptions extends TransferOptions {
  /** the platform to take from a multi-platform image (default this host's) */
  readonly platform?: string
  /**
   * Keep the whole index: every platform's manifest and blobs are stored and the name points at
   * the index (so push and export carry all of them); only this host's layers are extracted
   * (`ctr pull --all-platforms`). Not with `platform`.
   */
  readonly allPlatforms?: boolean
  readonly concurrency?: number
  /** extract a layer while it downloads when the snapshots below it exist (default true); false: store first, extract after */
  readonly streamExtract?: boolean
}

/** The local name a pulled reference gets by default: registry/repository:tag as written. */
const defaultName = (input: string, ref: Reference): string | undefined => {
  if (ref.tag === undefined) return undefined
  try {
    return normalizeName(input.replace(/@.*$/, ""))
  } catch {
    return normalizeName(`${ref.registry}/${ref.repository}:${ref.tag}`)
  }
}

/** A client following the engine's registries configuration (the engine option, else <root>/registries.conf). */
const defaultClient = (ctx: EngineContext) => new RegistryClient({ registries: engineRegistries(ctx.layout.root, ctx.registriesConf) })

export async function pull(ctx: EngineContext, input: string, name?: string, options: PullOptions = {}): Promise<ImageSummary> {
  const ref = parseReference(input)
  if (options.allPlatforms === true && options.platform !== undefined) {
    throw new UnsupportedImageError({ image: input, reason: `--all-platforms keeps every platform and uses this host's: it takes no --platform (${options.platform})` })
  }
  const target = name !== undefined ? normalizeName(name) : defaultName(input, ref)
  const client = options.client ?? defaultClient(ctx)
  const platform = { ...(options.platform === undefined ? {} : { platform: options.platform }), ...(options.signal === undefined ? {} : { signal: options.signal }) }
  const resolved = await client.resolve(ref, platform)
  const image = resolved.image
  const layers = image.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }))
  // the config (diffIDs) is needed before any layer can be extracted: layers wait on it
  let configReady!: (ids: ReadonlyArray<Digest>) => void
  let configFailed!: (e: unknown) => void
  const diffIds = new Promise<ReadonlyArray<Digest>>((res, rej) => {
    configReady = res
    configFailed = rej
  })
  diffIds.catch(() => {})
  const onBlobComplete = async (desc: Descriptor, info: { readonly skipped: boolean }) => {
    if (desc.digest === image.config.digest) {
      try {
        const config = (await decodeConfig(await ctx.store.read(desc.digest))).value
        // a single-platform image is not narrowed by an index: its config says what it is for
        if (options.platform !== undefined && config.os !== undefined && config.architecture !== undefined) {
          const actual = { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) }
          if (platformRank(options.platform, actual) === undefined) {
            throw new UnsupportedImageError({ image: input, reason: `it is for ${formatPlatform(actual)}, not the platform asked for (${options.platform})` })
          }
        }
        // the snapshots made before the tag lands are held against prune by a lease on their chainIDs
        await addLease(stackOf(config.rootfs.diff_ids))
        configReady(config.rootfs.diff_ids)
      } catch (e) {
        configFailed(e)
        throw e
      }
      return
    }
    complete.add(desc.digest)
    if (!info.skipped) justVerified.add(desc.digest)
    const ids = await diffIds
    // layers are applied in order (each over the snapshot below it), each as soon as its blob and
    // everything below are in, while later blobs still download
    applied = applied.then(async () => {
      // a layer of a media type cairn cannot extract is stored as it is: snapshots stop below it
      while (next < layers.length && complete.has(layers[next]!.digest) && layerCompression(layers[next]!.mediaType) !== undefined) {
        await Effect.runPromise(ensureSnapshot(snapshots, layers, ids, next, input))
        next++
      }
    })
    await applied
  }
  const complete = new Set<string>()
  // blobs this pull put into the store (not found there): the store's put checked size and digest
  // on the way in, so their extraction hashes the tar for the diffID only; blobs found in the store
  // are of unknown age and keep both checks
  const justVerified = new Set<string>()
  // every layer whose snapshot is missing is extracted as it arrives: over its lower snapshots when
  // they exist as its download starts, else with what it needs of them settled when it is adopted
  const streaming = new StreamingExtractor(ctx, layers, async (index) => {
    if (options.streamExtract === false) return undefined
    // the config, stored before the layers start, gives the diffIDs (its hook runs as pullImage finds it)
    const ids = await diffIds.catch(() => undefined)
    if (ids === undefined || ids.length !== layers.length) return undefined
    const chain = stackOf(ids.slice(0, index + 1))
    if ((await readSnapshotMeta(ctx.layout, chain[index]!)) !== undefined) return undefined // nothing to extract
    for (const c of chain.slice(0, index)) if ((await readSnapshotMeta(ctx.layout, c)) === undefined) return { diffId: ids[index]!, lowersLater: true }
    return { diffId: ids[index]!, lowers: lowerDirs(ctx.layout, chain.slice(0, index)) }
  })
  const snapshots: SnapshotContext = {
    ...ctx,
    extract: async (layer, diffId, target, onBytes, lowers) => {
      if (await streaming.adopt(layer, diffId, target, lowers)) return {}
      return ctx.extract(layer, diffId, target, onBytes, lowers, { blobJustVerified: justVerified.has(layer.digest) })
    }
  }
  let next = 0
  let applied: Promise<void> = Promise.resolve()
  let addLease: (more: ReadonlyArray<Digest>) => Promise<void> = async () => {}
  const pinned: Reference = { ...resolved.reference, digest: resolved.manifest.digest }
  return ctx.store.withLease((lease) => withSnapshotLease(ctx.layout, [], async (add) => {
    addLease = add
    const onProgress = (p: BlobProgress) => ctx.progress.emit({ kind: "blob", phase: "download", digest: p.digest, bytes: p.bytes, total: p.size, ref: input })
    // the config first (a few KiB): the diffIDs are known before any layer's bytes arrive, so each
    // layer's download can decide to extract as it goes (pullImage then finds the config stored)
    await client.pullBlob(pinned, image.config, ctx.store.sink(lease), { verify: false, onProgress, ...(options.signal === undefined ? {} : { signal: options.signal }) })
    await pullImage(client, pinned, streaming.sink(ctx.store.sink(lease)), {
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        // the store's put checks digest and size before a blob is visible: hash once, there
        verify: false,
        onProgress,
        onBlobComplete
      }).catch((e: unknown) => {
        // the platform check above is the engine's own verdict: pass it on, not wrapped in the callback's failure
        const cause = (e as { cause?: unknown })?.cause
        throw cause instanceof UnsupportedImageError ? cause : e
      })
    // every other platform (and attestation) of the index, stored but not extracted, then the index
    // itself once all it names is in; this host's blobs are found in the store and skipped
    const whole = options.allPlatforms === true && resolved.root.digest !== resolved.manifest.digest
    if (whole) {
      await pullAllPlatforms(client, { ...resolved.reference, digest: resolved.root.digest }, ctx.store.sink(lease), {
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        verify: false,
        onProgress
      })
    }
    const named = whole ? resolved.root : resolved.manifest
    const descriptor = { mediaType: named.mediaType, digest: named.digest, size: named.size }
    if (target !== undefined) await ctx.store.tag(target, descriptor)
    else await ctx.store.addUntagged(descriptor)
    const img = await loadImage(ctx, { descriptor, names: target === undefined ? [] : [target] })
    return summarize(img)
  }).finally(() => streaming.discard()))
}

/** Pushes an image: all of it (an index with every platform it holds), or with `allPlatforms` false this host's manifest only. */
export async function push(
  ctx: EngineContext,
  image: string,
  ref: string,
  client: RegistryClient = defaultClient(ctx),
  allPlatforms = true,
  signal?: AbortSignal
): Promise<{ digest: string }> {
  const stored = await findImage(ctx, image)
  const root = allPlatforms ? stored.descriptor : (await loadImage(ctx, stored, image)).manifestDescriptor
  const r = await pushImage(client, ctx.store.source(), root.digest, parseReference(ref), {
    ...(signal === undefined ? {} : { signal }),
    onProgress: (p) => ctx.progress.emit({ kind: "blob", phase: "upload", digest: p.digest, bytes: p.bytes, total: p.size, ref })
  })
  return { digest: r.digest }
}

/**
 * Puts a registry image's blobs and manifest into the store (no tag, no extraction), held by `lease`:
 * this host's platform, or with `allPlatforms` the whole index.
 */
async function fetchRemote(ctx: EngineContext, input: string, lease: string, client: RegistryClient, allPlatforms: boolean, signal?: AbortSignal): Promise<Descriptor> {
  const options = {
    ...(signal === undefined ? {} : { signal }),
    verify: false, // the store verifies
    onProgress: (p: BlobProgress) => ctx.progress.emit({ kind: "blob", phase: "download", digest: p.digest, bytes: p.bytes, total: p.size, ref: input })
  }
  if (allPlatforms) {
    const { root } = await pullAllPlatforms(client, parseReference(input), ctx.store.sink(lease), options)
    return { mediaType: root.mediaType, digest: root.digest, size: root.size }
  }
  const resolved = await client.resolve(parseReference(input), signal === undefined ? {} : { signal })
  await pullImage(client, { ...resolved.reference, digest: resolved.manifest.digest }, ctx.store.sink(lease), options)
  return { mediaType: resolved.manifest.mediaType, digest: resolved.manifest.digest, size: resolved.manifest.size }
}

/**
 * Copies an image between transports: docker://REF, oci:PATH[:TAG], oci-archive:FILE[:REF],
 * docker-archive:FILE[:REF] and local:IMAGE (this root). Only what the destination lacks moves.
 */
export async function copy(ctx: EngineContext, s: ImageSource, d: ImageDestination, options: CopyOptions = {}): Promise<{ digest: string }> {
  const client = options.client ?? defaultClient(ctx)
  const all = options.allPlatforms === true
  const signal = options.signal
  const sig = signal === undefined ? {} : { signal }
  const src = locationName(s)
  if (d.kind === "local") {
    if (s.kind === "local") {
      const stored = await findImage(ctx, s.image)
      await ctx.store.tag(normalizeName(d.image), stored.descriptor)
      return { digest: stored.descriptor.digest }
    }
    const name = d.image === "" ? undefined : d.image
    if (name !== undefined && (s.kind === "docker-archive" || s.kind === "oci-archive")) {
      // local:NAME names the image NAME only; the archive's own tags stay behind (import keeps them, as docker load)
      const img = await ctx.store.withLease(async (lease) => adoptImage(ctx, await fetchArchive(ctx, s, lease, all, signal), normalizeName(name), src, sig))
      return { digest: img.digest }
    }
    const img = s.kind === "docker" ? await pull(ctx, s.ref, name, { client, allPlatforms: all, ...sig }) : await importImage(ctx, s, name, { allPlatforms: all, ...sig })
    return { digest: img.digest }
  }
  if (s.kind === "local") {
    // skopeo's rule: a multi-platform image goes whole with --all, else as this host's image
    if (d.kind === "docker") return push(ctx, s.image, d.ref, client, all, signal)
    signal?.throwIfAborted()
    return { digest: (await exportImage(ctx, s.image, d, all)).digest }
  }
  // anything else: through the store, untagged and leased, so nothing lingers as an image (the
  // lease goes when the copy ends, and prune takes what no image shares)
  return ctx.store.withLease(async (lease) => {
    const descriptor =
      s.kind === "docker"
        ? await fetchRemote(ctx, s.ref, lease, client, all, signal)
        : s.kind === "oci"
          ? await fetchLayout(ctx, s, lease, all, signal)
          : await fetchArchive(ctx, s, lease, all, signal)
    if (d.kind === "docker") {
      const r = await pushImage(client, ctx.store.source(), descriptor.digest, parseReference(d.ref), sig)
      return { digest: r.digest }
    }
    const name = d.ref ?? (s.kind === "docker" ? refTag(s.ref) : s.ref)
    signal?.throwIfAborted()
    await ctx.store.exportImage(d.kind, "write" in d ? d.write : d.path, descriptor, name)
    return { digest: descriptor.digest }
  })
}

const refTag = (ref: string): string | undefined => {
  const r = parseReference(ref)
  return r.tag === undefined ? undefined : `${r.repository.replace(/^library\//, "")}:${r.tag}`
}
