// Registry wiring: pull into the store (each layer extracted as soon as its blob is complete,
// while the others download), push from the store, copy between transports.
import type { Digest } from "@cairn/digest"
import { decodeConfig, type Descriptor, layerCompression } from "@cairn/oci-spec"
import { parseReference, pullImage, pushImage, type Reference, RegistryClient } from "@cairn/registry"
import type { EngineContext } from "./context.js"
import { exportImage, fetchArchive, fetchLayout, importImage } from "./importExport.js"
import { findImage, type ImageSummary, loadImage, summarize } from "./images.js"
import { normalizeName, parseTransport } from "./reference.js"
import { withSnapshotLease } from "./snapshotLease.js"
import { ensureSnapshot, type SnapshotContext, stackOf } from "./snapshots.js"

export interface PullOptions {
  readonly platform?: string
  readonly concurrency?: number
  readonly client?: RegistryClient
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

export async function pull(ctx: EngineContext, input: string, name?: string, options: PullOptions = {}): Promise<ImageSummary> {
  const ref = parseReference(input)
  const target = name !== undefined ? normalizeName(name) : defaultName(input, ref)
  const client = options.client ?? new RegistryClient()
  const platform = options.platform === undefined ? {} : { platform: options.platform }
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
        await ensureSnapshot(snapshots, layers, ids, next, input)
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
  const snapshots: SnapshotContext = {
    ...ctx,
    extract: (layer, diffId, target, onBytes, lowers) =>
      ctx.extract(layer, diffId, target, onBytes, lowers, { blobJustVerified: justVerified.has(layer.digest) })
  }
  let next = 0
  let applied: Promise<void> = Promise.resolve()
  let addLease: (more: ReadonlyArray<Digest>) => Promise<void> = async () => {}
  const pinned: Reference = { ...resolved.reference, digest: resolved.manifest.digest }
  return ctx.store.withLease((lease) => withSnapshotLease(ctx.layout, [], async (add) => {
    addLease = add
    await pullImage(client, pinned, ctx.store.sink(lease), {
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        // the store's put checks digest and size before a blob is visible: hash once, there
        verify: false,
        onProgress: (p) => ctx.progress.emit({ kind: "blob", phase: "download", digest: p.digest, bytes: p.bytes, total: p.size, ref: input }),
        onBlobComplete
      })
    const descriptor = { mediaType: resolved.manifest.mediaType, digest: resolved.manifest.digest, size: resolved.manifest.size }
    if (target !== undefined) await ctx.store.tag(target, descriptor)
    else await ctx.store.addUntagged(descriptor)
    const img = await loadImage(ctx, { descriptor, names: target === undefined ? [] : [target] })
    return summarize(img)
  }))
}

export async function push(ctx: EngineContext, image: string, ref: string, client = new RegistryClient()): Promise<{ digest: string }> {
  const stored = await findImage(ctx, image)
  const r = await pushImage(client, ctx.store.source(), stored.descriptor.digest, parseReference(ref), {
    onProgress: (p) => ctx.progress.emit({ kind: "blob", phase: "store", digest: p.digest, bytes: p.bytes, total: p.size, ref })
  })
  return { digest: r.digest }
}

/** Puts a registry image's blobs and manifest into the store (no tag, no extraction), held by `lease`. */
async function fetchRemote(ctx: EngineContext, input: string, lease: string, client: RegistryClient): Promise<Descriptor> {
  const resolved = await client.resolve(parseReference(input))
  await pullImage(client, { ...resolved.reference, digest: resolved.manifest.digest }, ctx.store.sink(lease), {
    verify: false, // the store verifies
    onProgress: (p) => ctx.progress.emit({ kind: "blob", phase: "download", digest: p.digest, bytes: p.bytes, total: p.size, ref: input })
  })
  return { mediaType: resolved.manifest.mediaType, digest: resolved.manifest.digest, size: resolved.manifest.size }
}

/**
 * Copies an image between transports: docker://REF, oci:PATH[:TAG], oci-archive:FILE[:REF],
 * docker-archive:FILE[:REF] and local:IMAGE (this root). Only what the destination lacks moves.
 */
export async function copy(ctx: EngineContext, src: string, dst: string, client = new RegistryClient()): Promise<{ digest: string }> {
  const s = parseTransport(src)
  const d = parseTransport(dst)
  if (d.kind === "local") {
    if (s.kind === "local") {
      const stored = await findImage(ctx, s.image)
      await ctx.store.tag(normalizeName(d.image), stored.descriptor)
      return { digest: stored.descriptor.digest }
    }
    const name = d.image === "" ? undefined : d.image
    const img = s.kind === "docker" ? await pull(ctx, s.ref, name, { client }) : await importImage(ctx, src, name)
    return { digest: img.digest }
  }
  if (s.kind === "local") {
    if (d.kind === "docker") return push(ctx, s.image, d.ref, client)
    await exportImage(ctx, s.image, dst)
    return { digest: (await findImage(ctx, s.image)).descriptor.digest }
  }
  // anything else: through the store, untagged and leased, so nothing lingers as an image (the
  // lease goes when the copy ends, and prune takes what no image shares)
  return ctx.store.withLease(async (lease) => {
    const descriptor =
      s.kind === "docker"
        ? await fetchRemote(ctx, s.ref, lease, client)
        : s.kind === "oci"
          ? await fetchLayout(ctx, src, lease)
          : await fetchArchive(ctx, src, lease)
    if (d.kind === "docker") {
      const r = await pushImage(client, ctx.store.source(), descriptor.digest, parseReference(d.ref))
      return { digest: r.digest }
    }
    const name = d.ref ?? (s.kind === "docker" ? refTag(s.ref) : s.ref)
    await ctx.store.exportImage(d.kind, d.path, descriptor, name)
    return { digest: descriptor.digest }
  })
}

const refTag = (ref: string): string | undefined => {
  const r = parseReference(ref)
  return r.tag === undefined ? undefined : `${r.repository.replace(/^library\//, "")}:${r.tag}`
}
