// docker diff / docker commit over a container's upper dir (@cairn/overlay diffUpper/changesUpper).
// A commit stores blobs first (leased against GC), then the manifest, then the tag, so the store
// never shows half a commit: a crash leaves only unreferenced blobs that prune reclaims.
import { createReadStream } from "node:fs"
import { lstat, rm } from "node:fs/promises"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { type Digest, digestHex } from "@cairn/digest"
import { type ImageConfig, type ImageManifest, encodeCanonical, OciMediaType } from "@cairn/oci-spec"
import { changesUpper, diffUpper } from "@cairn/overlay"
import type { EngineContext } from "./context.js"
import { readJson } from "./atomic.js"
import { type ContainerMeta, findContainer, lockName, lowersOf } from "./containers.js"
import { syncCopyUpper, upperXattrNamespace } from "./copyUpper.js"
import { withLock } from "./lock.js"
import { ensureSnapshots, type ImageSummary, imageByDigest, loadImage, type LoadedImage, summarize } from "./images.js"
import { normalizeName } from "./reference.js"

const xattrNamespace = upperXattrNamespace

/** A container mounted by the copy driver has its writes in merged/: record them into upper/ first. */
async function syncIfCopy(ctx: EngineContext, idOrName: string): Promise<ContainerMeta> {
  const found = await findContainer(ctx, idOrName)
  if (found.mounted?.driver !== "copy") return found
  return withLock(ctx.layout.locks, lockName(found.id), async () => {
    const meta = (await readJson<ContainerMeta>(join(ctx.layout.container(found.id), "meta.json"))) ?? found
    if (meta.mounted?.driver === "copy") await syncCopyUpper(ctx.layout.container(meta.id), lowersOf(ctx, meta))
    return meta
  })
}

/** Whether a relative path exists in the container's lower view. */
const inLowers = (ctx: EngineContext, chain: ReadonlyArray<Digest>) => async (raw: Buffer) => {
  const rel = raw.toString("utf8")
  for (const c of [...chain].reverse()) {
    const st = await lstat(join(ctx.layout.snapshotFs(digestHex(c)), rel)).catch(() => undefined)
    if (st !== undefined) return !(st.isCharacterDevice() && st.rdev === 0)
  }
  return false
}

export async function diffContainer(ctx: EngineContext, idOrName: string): Promise<Array<{ kind: "A" | "C" | "D"; path: string }>> {
  const meta = await syncIfCopy(ctx, idOrName)
  const changes = await changesUpper(join(ctx.layout.container(meta.id), "upper"), inLowers(ctx, meta.chain), {
    xattrNamespace: xattrNamespace(meta.mounted?.driver ?? meta.lastDriver)
  })
  return changes.map((c) => ({ kind: c.kind, path: c.path }))
}

export interface CommitOptions {
  readonly name?: string
  readonly message?: string
  readonly author?: string
}

/** Stores a new image = parent + one layer, and tags it; returns its summary. */
export async function storeImage(
  ctx: EngineContext,
  parent: LoadedImage,
  layer: { digest: Digest; size: number; mediaType: string; diffId: Digest },
  historyEntry: NonNullable<ImageConfig["history"]>[number],
  name: string | undefined,
  lease: string | undefined,
  replaceLayers = false
): Promise<ImageSummary> {
  const created = historyEntry.created ?? ctx.now().toISOString()
  const config: ImageConfig = {
    ...parent.config,
    created,
    ...(historyEntry.author === undefined ? {} : { author: historyEntry.author }),
    rootfs: { type: "layers", diff_ids: replaceLayers ? [layer.diffId] : [...parent.diffIds, layer.diffId] },
    history: [...(replaceLayers ? [] : (parent.config.history ?? [])), historyEntry]
  }
  const configDoc = await encodeCanonical(config)
  await ctx.store.put({ digest: configDoc.digest, size: configDoc.size, mediaType: OciMediaType.ImageConfig }, configDoc.bytes, lease)
  const layerDesc = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OciMediaType.ImageManifest,
    config: { mediaType: OciMediaType.ImageConfig, digest: configDoc.digest, size: configDoc.size },
    layers: replaceLayers ? [layerDesc] : [...parent.manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })), layerDesc]
  }
  const manifestDoc = await encodeCanonical(manifest)
  await ctx.store.put({ digest: manifestDoc.digest, size: manifestDoc.size, mediaType: OciMediaType.ImageManifest }, manifestDoc.bytes, lease)
  const descriptor = { mediaType: OciMediaType.ImageManifest, digest: manifestDoc.digest, size: manifestDoc.size }
  if (name !== undefined) await ctx.store.tag(normalizeName(name), descriptor)
  else await ctx.store.addUntagged(descriptor)
  const img = await loadImage(ctx, { descriptor, names: name === undefined ? [] : [normalizeName(name)] })
  await ensureSnapshots(ctx, img)
  return summarize(img)
}

/** Writes a layer with `write` into a temp file under snapshots/ (cleared at open if we die), stores it. */
export async function storeLayerFile<T extends { digest: Digest; size: number; mediaType: string }>(
  ctx: EngineContext,
  lease: string | undefined,
  write: (file: string) => Promise<T>
): Promise<T> {
  const file = join(ctx.layout.snapshots, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}.layer`)
  try {
    const result = await write(file)
    await ctx.store.put({ digest: result.digest, size: result.size, mediaType: result.mediaType }, createReadStream(file), lease)
    return result
  } finally {
    await rm(file, { force: true })
  }
}

export async function commitContainer(ctx: EngineContext, idOrName: string, options: CommitOptions = {}): Promise<ImageSummary> {
  if (options.name !== undefined) normalizeName(options.name) // fail before any work
  const meta = await syncIfCopy(ctx, idOrName)
  const parent = await imageByDigest(ctx, meta.imageDigest)
  return ctx.store.withLease(async (lease) => {
    const layer = await storeLayerFile(ctx, lease, (file) =>
      diffUpper(join(ctx.layout.container(meta.id), "upper"), file, {
        compression: "gzip",
        xattrNamespace: xattrNamespace(meta.mounted?.driver ?? meta.lastDriver)
      })
    )
    return storeImage(
      ctx,
      parent,
      layer,
      {
        created: ctx.now().toISOString(),
        created_by: "cairn commit",
        ...(options.message === undefined ? {} : { comment: options.message }),
        ...(options.author === undefined ? {} : { author: options.author })
      },
      options.name,
      lease
    )
  })
}
