// docker diff / docker commit over a container's upper dir (@cairn/overlay diffUpper/changesUpper).
// A commit stores blobs first (leased against GC), then the manifest, then the tag, so the store
// never shows half a commit: a crash leaves only unreferenced blobs that prune reclaims.
import { createReadStream } from "node:fs"
import { lstat, rm } from "node:fs/promises"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { type Digest, digestHex } from "@cairn/digest"
import { type ImageConfig, type ImageManifest, encodeCanonical, OciMediaType } from "@cairn/oci-spec/lazy"
import { changesUpper, diffUpper } from "@cairn/overlay"
import * as Effect from "effect/Effect"
import { attempt } from "./attempt.js"
import type { EngineContext } from "./context.js"
import { type ContainerMeta, findContainer, lowersOf, withContainer } from "./containers.js"
import { syncCopyUpper, upperXattrNamespace } from "./copyUpper.js"
import { asEngineError, type EngineError } from "./engineError.js"
import { ensureSnapshots, type ImageSummary, imageByDigest, loadImage, type LoadedImage, summarize } from "./images.js"
import { normalizeName } from "./reference.js"

const xattrNamespace = upperXattrNamespace

/** A container mounted by the copy driver has its writes in merged/: record them into upper/ first (holding its lock). */
const syncIfCopy = (ctx: EngineContext, idOrName: string): Effect.Effect<ContainerMeta, EngineError> =>
  Effect.flatMap(findContainer(ctx, idOrName), (found) =>
    found.mounted?.driver !== "copy"
      ? Effect.succeed(found)
      : withContainer(ctx, found.id, (meta) =>
        meta.mounted?.driver !== "copy"
          ? Effect.succeed(meta)
          : Effect.as(
            attempt("record the copy mount's changes of", ctx.layout.container(meta.id), () => syncCopyUpper(ctx.layout.container(meta.id), lowersOf(ctx, meta))),
            meta
          ))
  )

/** Whether a relative path exists in the container's lower view. */
const inLowers = (ctx: EngineContext, chain: ReadonlyArray<Digest>) => async (raw: Buffer) => {
  const rel = raw.toString("utf8")
  for (const c of [...chain].reverse()) {
    const st = await lstat(join(ctx.layout.snapshotFs(digestHex(c)), rel)).catch(() => undefined)
    if (st !== undefined) return !(st.isCharacterDevice() && st.rdev === 0)
  }
  return false
}

export const diffContainer = (ctx: EngineContext, idOrName: string): Effect.Effect<Array<{ kind: "A" | "C" | "D"; path: string }>, EngineError> =>
  Effect.gen(function*() {
    const meta = yield* syncIfCopy(ctx, idOrName)
    const upper = join(ctx.layout.container(meta.id), "upper")
    const changes = yield* attempt("read the changes in", upper, () =>
      changesUpper(upper, inLowers(ctx, meta.chain), { xattrNamespace: xattrNamespace(meta.mounted?.driver ?? meta.lastDriver) })
    )
    return changes.map((c) => ({ kind: c.kind, path: c.path }))
  })

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
  await Effect.runPromise(ensureSnapshots(ctx, img))
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

export const commitContainer = (ctx: EngineContext, idOrName: string, options: CommitOptions = {}): Effect.Effect<ImageSummary, EngineError> =>
  Effect.gen(function*() {
    const name = options.name
    if (name !== undefined) yield* Effect.try({ try: () => normalizeName(name), catch: asEngineError("commit as", name) }) // fail before any work
    const meta = yield* syncIfCopy(ctx, idOrName)
    const parent = yield* attempt("read image", meta.imageDigest, () => imageByDigest(ctx, meta.imageDigest))
    const upper = join(ctx.layout.container(meta.id), "upper")
    return yield* attempt("commit", upper, () =>
      ctx.store.withLease(async (lease) => {
        const layer = await storeLayerFile(ctx, lease, (file) =>
          diffUpper(upper, file, {
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
          name,
          lease
        )
      })
    )
  })
