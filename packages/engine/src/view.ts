// Reading an image without mounting it (@cairn/overlay's MergedView over the layer blobs),
// flattening, `docker export`-style tars and per-layer waste analysis.
import { createReadStream } from "node:fs"
import { rm } from "node:fs/promises"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import type { Readable, Writable } from "node:stream"
import {
  analyzeLayers,
  type LayerAnalysis as OverlayLayerAnalysis,
  diffUpper,
  flatten as flattenLayers,
  type LayerSource,
  MergedView,
  type ViewEntry
} from "@cairn/overlay"
import * as Effect from "effect/Effect"
import { storeImage, storeLayerFile } from "./commit.js"
import { findContainer } from "./containers.js"
import type { EngineContext } from "./context.js"
import { ContainerNotFoundError, PathNotFoundInImageError } from "./errors.js"
import { type ImageSummary, imageByDigest, type LoadedImage, resolveImage } from "./images.js"
import { openLayer } from "./layers.js"
import { normalizeName } from "./reference.js"

export interface FileEntry {
  readonly name: string
  /** "/"-rooted path */
  readonly path: string
  readonly type: ViewEntry["type"]
  readonly size: number
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly mtime: number
  readonly linkTarget?: string
}

/** Per layer: what it adds, changes and deletes, and the bytes later layers shadow (waste). */
export interface LayerAnalysis extends OverlayLayerAnalysis {
  readonly digest: string
  readonly size: number
  readonly createdBy?: string
}

const sourcesOf = (ctx: EngineContext, img: LoadedImage): Array<LayerSource> =>
  img.layers.map((l) => () => openLayer(ctx.store, l))

const viewOf = async (ctx: EngineContext, image: string) => {
  const img = await resolveImage(ctx, image)
  return { img, view: await MergedView.build(sourcesOf(ctx, img)) }
}

const clean = (path: string) => path.replace(/^\/+/, "").replace(/\/+$/, "")

const entryOf = (e: ViewEntry): FileEntry => {
  const path = `/${e.path.toString("utf8")}`
  return {
    name: path.slice(path.lastIndexOf("/") + 1),
    path,
    type: e.type,
    size: e.header.size,
    mode: e.header.mode,
    uid: e.header.uid,
    gid: e.header.gid,
    mtime: e.header.mtime,
    ...(e.type === "symlink" ? { linkTarget: e.header.linkpath.toString("utf8") } : {})
  }
}

/** The entries of a directory of the image (or the entry itself for a file), like `ls -l`. */
export async function listFiles(ctx: EngineContext, image: string, path: string): Promise<Array<FileEntry>> {
  const { view } = await viewOf(ctx, image)
  const p = clean(path)
  const at = p === "" ? undefined : view.statFollow(p)
  if (p !== "" && at === undefined) throw new PathNotFoundInImageError({ image, path })
  if (at !== undefined && at.type !== "directory") return [entryOf(at)]
  return view.readdir(p).map((name) => {
    const child = p === "" ? name : Buffer.concat([Buffer.from(`${p}/`), name])
    return entryOf(view.stat(child)!)
  })
}

/** A regular file's bytes (symlinks followed inside the image). */
export async function readFile(ctx: EngineContext, image: string, path: string): Promise<Readable> {
  const { view } = await viewOf(ctx, image)
  const p = clean(path)
  const e = view.statFollow(p)
  if (e === undefined) throw new PathNotFoundInImageError({ image, path })
  return view.readFile(p)
}

/** A new image `name` with one layer holding the merged tree of `image`. */
export async function flatten(ctx: EngineContext, image: string, name: string): Promise<ImageSummary> {
  const target = normalizeName(name)
  const img = await resolveImage(ctx, image)
  return ctx.store.withLease(async (lease) => {
    const layer = await storeLayerFile(ctx, lease, (file) => flattenLayers(sourcesOf(ctx, img), file, { compression: "gzip" }))
    return storeImage(
      ctx,
      img,
      layer,
      { created: ctx.now().toISOString(), created_by: `cairn flatten ${image}`, comment: `flattened from ${img.digest}` },
      target,
      lease,
      true
    )
  })
}

/** The layers of an image's merged tree, or of a container's (its image plus its upper dir's changes as one more layer), for `f`. */
async function withFsSources<T>(ctx: EngineContext, what: string, f: (sources: Array<LayerSource>) => Promise<T>): Promise<T> {
  const container = await Effect.runPromise(findContainer(ctx, what)).catch((e) => {
    if (e instanceof ContainerNotFoundError) return undefined
    throw e
  })
  if (container === undefined) return f(sourcesOf(ctx, await resolveImage(ctx, what)))
  const img = await imageByDigest(ctx, container.imageDigest)
  const upperLayer = join(ctx.layout.snapshots, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}.tar`)
  try {
    await diffUpper(join(ctx.layout.container(container.id), "upper"), upperLayer, {
      compression: "none",
      xattrNamespace: (container.mounted?.driver ?? container.lastDriver) === "rootless" ? "user" : "trusted"
    })
    return await f([...sourcesOf(ctx, img), () => createReadStream(upperLayer)])
  } finally {
    await rm(upperLayer, { force: true })
  }
}

/** A tar of the merged tree of an image, or of a container (its image plus its upper dir's changes). */
export async function exportFs(ctx: EngineContext, what: string, dest: Writable | string): Promise<void> {
  await withFsSources(ctx, what, (sources) => flattenLayers(sources, dest, { compression: "none" }))
}

/**
 * Where `path` lies in the merged tree of an image or container once the symlinks among its parent
 * directories are followed inside the tree (the last component is not: docker cp's rule), as a
 * relative path; undefined when there is nothing there.
 */
export async function realPath(ctx: EngineContext, what: string, path: string): Promise<string | undefined> {
  return withFsSources(ctx, what, async (sources) => (await MergedView.build(sources)).stat(clean(path))?.path.toString("utf8"))
}

export async function analyze(ctx: EngineContext, image: string): Promise<Array<LayerAnalysis>> {
  const img = await resolveImage(ctx, image)
  const stack = await analyzeLayers(sourcesOf(ctx, img))
  const createdBy = (img.config.history ?? []).filter((h) => h.empty_layer !== true).map((h) => h.created_by)
  return stack.layers.map((l, i) => ({
    ...l,
    digest: img.layers[i]!.digest,
    size: img.layers[i]!.size,
    ...(createdBy[i] === undefined ? {} : { createdBy: createdBy[i] })
  }))
}
