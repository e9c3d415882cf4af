// Registry wiring: pull into the store (each layer extracted as soon as its blob is complete,
// while the others download), push from the store, copy between transports.
import type { Digest } from "@cairn/digest"
import { decodeConfig, type Descriptor } from "@cairn/oci-spec"
import { parseReference, pullImage, pushImage, type Reference, RegistryClient } from "@cairn/registry"
import type { EngineContext } from "./context.js"
import { findImage, type ImageSummary, loadImage, summarize } from "./images.js"
import { normalizeName } from "./reference.js"
import { withSnapshotLease } from "./snapshotLease.js"
import { ensureSnapshot, stackOf } from "./snapshots.js"

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
  const onBlobComplete = async (desc: Descriptor) => {
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
    const ids = await diffIds
    for (const [i, l] of layers.entries()) if (l.digest === desc.digest) await ensureSnapshot(ctx, layers, ids, i, input)
  }
  let addLease: (more: ReadonlyArray<Digest>) => Promise<void> = async () => {}
  const pinned: Reference = { ...resolved.reference, digest: resolved.manifest.digest }
  return ctx.store.withLease((lease) => withSnapshotLease(ctx.layout, [], async (add) => {
    addLease = add
    await pullImage(client, pinned, ctx.store.sink(lease), {
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
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

export async function copy(_ctx: EngineContext, _src: string, _dst: string): Promise<{ digest: string }> {
  throw new Error("not yet")
}
