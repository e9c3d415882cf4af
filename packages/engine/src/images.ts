// Local images: manifests listed in the root's index.json, named by ref.name "name:tag".
import { type Digest, digestHex, isDigest } from "@cairn/digest"
import {
  asOciIndex,
  decodeAnyManifest,
  decodeConfig,
  type Descriptor,
  dockerToOciManifest,
  formatPlatform,
  hostPlatform,
  type ImageConfig,
  type ImageManifest,
  NoMatchingPlatformError,
  OciMediaType,
  selectManifest
} from "@cairn/oci-spec/lazy"
import * as Effect from "effect/Effect"
import { attempt } from "./attempt.js"
import type { EngineContext } from "./context.js"
import type { EngineError } from "./engineError.js"
import { AmbiguousReferenceError, ImageNotFoundError, UnsupportedImageError } from "./errors.js"
import { normalizeName } from "./reference.js"
import { ensureSnapshot, stackOf } from "./snapshots.js"
import type { LayerDescriptor, StoredImage } from "./store.js"

export interface ImageSummary {
  readonly name?: string
  readonly names: ReadonlyArray<string>
  readonly digest: Digest
  readonly configDigest: Digest
  readonly created?: string
  /** manifest + config + layer blobs */
  readonly size: number
  readonly layers: number
  readonly platform: string
  /** every platform of an image named by an index (`pull --all-platforms`); absent for one manifest */
  readonly platforms?: ReadonlyArray<string>
}

export interface LayerInfo {
  readonly digest: Digest
  readonly diffId: Digest
  readonly size: number
  readonly mediaType: string
  readonly chainId: Digest
  readonly snapshot: boolean
}

export interface ImageInspect {
  /** what the image's names point at: its manifest, or the index of a multi-platform image */
  readonly digest: Digest
  /** the image manifest used here (the host platform's when `digest` is an index) */
  readonly manifestDigest: Digest
  readonly names: ReadonlyArray<string>
  readonly manifest: ImageManifest
  readonly config: ImageConfig
  readonly configDigest: Digest
  readonly layers: ReadonlyArray<LayerInfo>
}

export interface HistoryRow {
  readonly created?: string
  readonly createdBy?: string
  readonly comment?: string
  readonly author?: string
  readonly emptyLayer: boolean
  readonly size: number
  readonly layer?: Digest
}

/** A manifest loaded with its config, as every image operation needs it. */
export interface LoadedImage {
  /** the image manifest's digest (for an index, the host platform's manifest in it) */
  readonly digest: Digest
  /** what the image's names point at: the manifest, or an index holding it */
  readonly descriptor: Descriptor
  /** the image manifest's descriptor (`descriptor` itself unless that is an index) */
  readonly manifestDescriptor: Descriptor
  /** the platforms an index offers (absent when `descriptor` is the manifest) */
  readonly platforms?: ReadonlyArray<string>
  readonly names: ReadonlyArray<string>
  readonly manifest: ImageManifest
  readonly config: ImageConfig
  readonly layers: ReadonlyArray<LayerDescriptor>
  readonly diffIds: ReadonlyArray<Digest>
  readonly chain: ReadonlyArray<Digest>
}

/** Finds an image by name[:tag], full digest, or a unique hex prefix (>= 12) of its digest. */
export async function findImage(ctx: EngineContext, input: string): Promise<StoredImage> {
  const images = await ctx.store.images()
  let name: string | undefined
  try {
    name = normalizeName(input)
  } catch {}
  if (name !== undefined) {
    const hit = images.find((i) => i.names.includes(name))
    if (hit !== undefined) return hit
  }
  if (isDigest(input)) {
    const hit = images.find((i) => i.descriptor.digest === input)
    if (hit !== undefined) return hit
  }
  const hex = input.startsWith("sha256:") ? input.slice(7) : input
  if (/^[0-9a-f]{12,64}$/.test(hex)) {
    const hits = images.filter((i) => digestHex(i.descriptor.digest).startsWith(hex))
    if (hits.length === 1) return hits[0]!
    if (hits.length > 1) throw new AmbiguousReferenceError({ input, matches: hits.map((h) => h.descriptor.digest) })
  }
  if (/^[0-9a-f]{1,11}$/.test(hex)) {
    const n = images.filter((i) => digestHex(i.descriptor.digest).startsWith(hex)).length
    if (n > 0) {
      const starts = `${n} image${n === 1 ? " starts" : "s start"} with it`
      throw new ImageNotFoundError({ image: input, reason: `ID prefix too short or ambiguous: give at least 12 hex characters (${starts})` })
    }
  }
  throw new ImageNotFoundError({ image: input })
}

export async function loadManifest(ctx: EngineContext, digest: Digest, label: string): Promise<ImageManifest> {
  const doc = await decodeAnyManifest(await ctx.store.read(digest))
  if (doc.kind === "manifest") return doc.value
  if (doc.kind === "docker-manifest") return dockerToOciManifest(doc.value)
  throw new UnsupportedImageError({ image: label, reason: `${digest} is an ${doc.kind}, not an image manifest` })
}

/** Indexes nest; a chain deeper than this is refused rather than followed. */
const MAX_INDEX_DEPTH = 4

/**
 * The image manifest a stored descriptor stands for on this host: itself, or the host platform's
 * entry of an index (through nested ones), as containerd picks a multi-platform image's content.
 */
async function hostManifest(
  ctx: EngineContext,
  descriptor: Descriptor,
  label: string
): Promise<{ manifest: Descriptor; platforms?: ReadonlyArray<string> }> {
  let d = descriptor
  let platforms: ReadonlyArray<string> | undefined
  for (let depth = 0; ; depth++) {
    const index = asOciIndex(await decodeAnyManifest(await ctx.store.read(d.digest)))
    if (index === undefined) return { manifest: d, ...(platforms === undefined ? {} : { platforms }) }
    if (depth >= MAX_INDEX_DEPTH) throw new UnsupportedImageError({ image: label, reason: `${descriptor.digest} nests indexes more than ${MAX_INDEX_DEPTH} deep` })
    // as the index declares them (linux/arm64, not the normalized linux/arm64/v8); attestations' unknown/unknown left out
    platforms ??= index.manifests.flatMap((m) =>
      m.platform === undefined || m.platform.os === "unknown" ? [] : [[m.platform.os, m.platform.architecture, m.platform.variant].filter((x) => x !== undefined && x !== "").join("/")]
    )
    try {
      d = selectManifest(index)
    } catch (e) {
      if (!(e instanceof NoMatchingPlatformError)) throw e
      throw new UnsupportedImageError({ image: label, reason: `its index has no manifest for this host (${formatPlatform(hostPlatform())}); it has ${e.available.join(", ") || "no platforms"}` })
    }
  }
}

export async function loadImage(ctx: EngineContext, stored: StoredImage, label?: string): Promise<LoadedImage> {
  const { manifest: manifestDescriptor, platforms } = await hostManifest(ctx, stored.descriptor, label ?? stored.descriptor.digest)
  const digest = manifestDescriptor.digest
  const manifest = await loadManifest(ctx, digest, label ?? digest)
  const config = (await decodeConfig(await ctx.store.read(manifest.config.digest))).value
  const diffIds = config.rootfs.diff_ids
  if (diffIds.length !== manifest.layers.length) {
    throw new UnsupportedImageError({
      image: label ?? digest,
      reason: `the config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers (image-spec config.md: one per layer)`
    })
  }
  const layers = manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }))
  return {
    digest,
    descriptor: stored.descriptor,
    manifestDescriptor,
    ...(platforms === undefined ? {} : { platforms }),
    names: stored.names,
    manifest,
    config,
    layers,
    diffIds,
    chain: stackOf(diffIds)
  }
}

/** An image by manifest digest, listed or not (a container's image may have lost its names). */
export async function imageByDigest(ctx: EngineContext, digest: Digest): Promise<LoadedImage> {
  const stored = (await ctx.store.images()).find((i) => i.descriptor.digest === digest)
  if (stored !== undefined) return loadImage(ctx, stored)
  const s = await ctx.store.stat(digest)
  if (s === undefined) throw new ImageNotFoundError({ image: digest })
  return loadImage(ctx, { descriptor: { mediaType: OciMediaType.ImageManifest, digest, size: s.size }, names: [] })
}

export const resolveImage = async (ctx: EngineContext, input: string): Promise<LoadedImage> =>
  loadImage(ctx, await findImage(ctx, input), input)

/** The blobs an image uses on this host, each once: its index (if any), manifest, config and layers. */
export const imageBlobs = (img: LoadedImage): Array<{ digest: Digest; size: number }> => {
  const all = [img.descriptor, img.manifestDescriptor, img.manifest.config, ...img.layers].map((d) => ({ digest: d.digest, size: d.size }))
  const seen = new Set<string>()
  return all.filter((b) => !seen.has(b.digest) && seen.add(b.digest))
}

export function summarize(img: LoadedImage): ImageSummary {
  const size = imageBlobs(img).reduce((n, b) => n + b.size, 0)
  return {
    ...(img.names[0] === undefined ? {} : { name: img.names[0] }),
    names: img.names,
    digest: img.descriptor.digest,
    configDigest: img.manifest.config.digest,
    ...(img.config.created === undefined ? {} : { created: img.config.created }),
    size,
    layers: img.layers.length,
    platform: formatPlatform(img.config),
    ...(img.platforms === undefined ? {} : { platforms: img.platforms })
  }
}

/** The image `input` names, loaded (an Effect of resolveImage). */
const resolved = (ctx: EngineContext, input: string) => attempt("read image", input, () => resolveImage(ctx, input))

export const listImages = (ctx: EngineContext): Effect.Effect<Array<ImageSummary>, EngineError> =>
  Effect.gen(function*() {
    const out: Array<ImageSummary> = []
    for (const stored of yield* attempt("list the images of", ctx.layout.root, () => ctx.store.images())) {
      // a manifest whose blobs are gone (or an index without this host's platform) is not a runnable image: skip, fsck reports it
      const img = yield* Effect.promise(() => loadImage(ctx, stored).catch(() => undefined))
      if (img !== undefined) out.push(summarize(img))
    }
    return out
  })

export const inspectImage = (ctx: EngineContext, input: string): Effect.Effect<ImageInspect, EngineError> =>
  Effect.gen(function*() {
    const img = yield* resolved(ctx, input)
    const layers: Array<LayerInfo> = []
    for (const [i, l] of img.layers.entries()) {
      const chainId = img.chain[i]!
      layers.push({ ...l, diffId: img.diffIds[i]!, chainId, snapshot: (yield* ctx.snapshotter.stat(chainId)) !== undefined })
    }
    return {
      digest: img.descriptor.digest,
      manifestDigest: img.digest,
      names: img.names,
      manifest: img.manifest,
      config: img.config,
      configDigest: img.manifest.config.digest,
      layers
    }
  })

/** Like `docker history`: newest first, empty_layer rows included, each real row with its layer. */
export const history = (ctx: EngineContext, input: string): Effect.Effect<Array<HistoryRow>, EngineError> => Effect.map(resolved(ctx, input), historyRows)

function historyRows(img: LoadedImage): Array<HistoryRow> {
  const rows: Array<HistoryRow> = []
  const entries = img.config.history ?? []
  let layer = 0
  for (const h of entries) {
    const empty = h.empty_layer === true
    const l = empty ? undefined : img.layers[layer++]
    rows.push({
      ...(h.created === undefined ? {} : { created: h.created }),
      ...(h.created_by === undefined ? {} : { createdBy: h.created_by }),
      ...(h.comment === undefined ? {} : { comment: h.comment }),
      ...(h.author === undefined ? {} : { author: h.author }),
      emptyLayer: empty,
      size: l?.size ?? 0,
      ...(l === undefined ? {} : { layer: l.digest })
    })
  }
  // layers without history entries (history is optional in config.md)
  for (; layer < img.layers.length; layer++) rows.push({ emptyLayer: false, size: img.layers[layer]!.size, layer: img.layers[layer]!.digest })
  return rows.reverse()
}

/** Extracts every missing snapshot of the image, independent layers concurrently. Succeeds with how many were extracted. */
export const ensureSnapshots = (ctx: EngineContext, img: LoadedImage, ref?: string): Effect.Effect<number, EngineError> =>
  Effect.forEach(
    img.layers.map((_, i) => i),
    (i) => ensureSnapshot(ctx, img.layers, img.diffIds, i, ref),
    { concurrency: ctx.concurrency }
  ).pipe(Effect.map((done) => done.filter(Boolean).length))

export const tagImage = (ctx: EngineContext, input: string, name: string): Effect.Effect<void, EngineError> =>
  attempt("tag", input, async () => {
    const target = normalizeName(name)
    const stored = await findImage(ctx, input)
    await ctx.store.tag(target, stored.descriptor)
  })

export const untagImage = (ctx: EngineContext, name: string): Effect.Effect<void, EngineError> =>
  attempt("untag", name, async () => {
    const n = normalizeName(name)
    const images = await ctx.store.images()
    const owner = images.find((i) => i.names.includes(n))
    if (owner === undefined) throw new ImageNotFoundError({ image: name })
    await ctx.store.untag(n)
  })

export const manifestMediaType = OciMediaType.ImageManifest
