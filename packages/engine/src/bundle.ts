// Flat root filesystems (`umoci raw unpack`) and OCI runtime bundles (rootfs + config.json), of a
// local image or straight from an oci:/oci-archive:/docker-archive: source (`umoci raw unpack
// --image`): its blobs are read where they lie (an archive's through a scratch store that goes
// with the operation), both digests verified, nothing added to the engine's store unless `keep`.
// The output is built in a temporary sibling of DIR and renamed into place once complete, so a
// failure (a corrupt layer, a full disk) leaves nothing behind, and its error names the layer.
import { randomBytes } from "node:crypto"
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises"
import { basename, dirname, join, resolve } from "node:path"
import { Store } from "@cairn/cas"
import { type Digest, digestBytes, digestHex, parseDigest } from "@cairn/digest"
import { decodeAnyManifest, decodeConfig, decodeIndex, type Descriptor, dockerToOciManifest, type ImageConfig } from "@cairn/oci-spec/lazy"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { writeJsonAtomic } from "./atomic.js"
import { attempt } from "./attempt.js"
import type { EngineContext } from "./context.js"
import { asEngineError, type EngineError } from "./engineError.js"
import { EngineIOError, InvalidSourceError, LayerApplyError, LayerMediaTypeError, UnsupportedImageError } from "./errors.js"
import { resolveImage } from "./images.js"
import { assertReadable, chooseArchiveImage, importImage, pickManifest } from "./importExport.js"
import type { LayerBytes } from "./layers.js"
import { asLocation, type ImageSource, locationName } from "./location.js"
import { type RuntimeSpecOptions, runtimeSpec } from "./runtimeSpec.js"
import { withSnapshotLease } from "./snapshotLease.js"
import { flatFromSnapshots } from "./snapshotCopy.js"
import type { LayerDescriptor } from "./store.js"

export interface UnpackOptions {
  /**
   * With an oci:/oci-archive:/docker-archive: source: import its image into the store first
   * (named as import names it, snapshots deferred as `import --no-unpack` does) instead of
   * reading it where it lies and leaving nothing behind.
   */
  readonly keep?: boolean
}

/** An image to lay out flat: its config and layers, and where each layer's bytes come from. */
interface FlatSource {
  /** how errors name it: the image argument as given */
  readonly label: string
  readonly config: ImageConfig
  readonly layers: ReadonlyArray<LayerDescriptor>
  readonly diffIds: ReadonlyArray<Digest>
  /** the bytes of a layer blob; undefined: the engine's store */
  readonly open?: (layer: LayerDescriptor) => Promise<LayerBytes>
  /** a local image: its snapshots may exist, and a flat tree can be copied from them */
  readonly local?: Awaited<ReturnType<typeof resolveImage>>
}

/** A layout's blob, read and checked against its digest (the layout is the user's input, not the store). */
const layoutBlobPath = (layout: string, d: Digest) => {
  const p = parseDigest(d)
  return join(layout, "blobs", p.slice(0, p.indexOf(":")), digestHex(p))
}

async function verifiedLayoutBlob(source: string, layout: string, d: Digest): Promise<Uint8Array> {
  const path = layoutBlobPath(layout, d)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (e) {
    throw new InvalidSourceError({ source, reason: `blob ${d} cannot be read from ${path} (${(e as NodeJS.ErrnoException).code})` })
  }
  const actual = await digestBytes(bytes, parseDigest(d).startsWith("sha512:") ? "sha512" : "sha256")
  if (actual !== d) throw new InvalidSourceError({ source, reason: `${path} hashes to ${actual}, not to ${d} as its name says` })
  return bytes
}

async function imageOf(
  source: string,
  descriptor: Descriptor,
  read: (d: Digest) => Promise<Uint8Array>
): Promise<{ config: ImageConfig; layers: Array<LayerDescriptor>; diffIds: ReadonlyArray<Digest> }> {
  const doc = await decodeAnyManifest(await read(descriptor.digest), descriptor.mediaType)
  if (doc.kind !== "manifest" && doc.kind !== "docker-manifest") {
    throw new UnsupportedImageError({ image: source, reason: `${descriptor.digest} is an ${doc.kind}, not an image manifest` })
  }
  const manifest = doc.kind === "manifest" ? doc.value : dockerToOciManifest(doc.value)
  const config = (await decodeConfig(await read(manifest.config.digest))).value
  const diffIds = config.rootfs.diff_ids
  if (diffIds.length !== manifest.layers.length) {
    throw new UnsupportedImageError({
      image: source,
      reason: `the config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers (image-spec config.md: one per layer)`
    })
  }
  const layers = manifest.layers.map((l) => ({ digest: parseDigest(l.digest), size: l.size, mediaType: l.mediaType }))
  return { config, layers, diffIds }
}

/** How a leaf of an unpack or bundle names its untyped failure: "unpack of SOURCE into" DIR. */
type Io = <A>(f: (signal: AbortSignal) => Promise<A>) => Effect.Effect<A, EngineError>

/**
 * The image `image` names, for the scope: a local image, or a transport source read where it
 * lies (an archive's scratch store is removed when the scope closes).
 */
const flatSource = (ctx: EngineContext, image: string | ImageSource, options: UnpackOptions, io: Io): Effect.Effect<FlatSource, EngineError, Scope.Scope> =>
  Effect.gen(function*() {
    const t = yield* Effect.try({ try: () => asLocation(image, true), catch: asEngineError("read", locationName(image)) })
    const input = locationName(image)
    if (t.kind === "local") {
      const img = yield* io(() => resolveImage(ctx, t.image))
      return { label: input, config: img.config, layers: img.layers, diffIds: img.diffIds, local: img }
    }
    if (options.keep === true && t.kind !== "docker") {
      const local = yield* io(async () => resolveImage(ctx, (await importImage(ctx, t, undefined, { unpack: false })).digest))
      return { label: input, config: local.config, layers: local.layers, diffIds: local.diffIds, local }
    }
    if (t.kind === "oci") {
      return yield* io(async () => {
        let indexBytes: Uint8Array
        try {
          indexBytes = await readFile(join(t.path, "index.json"))
        } catch (e) {
          throw new InvalidSourceError({ source: input, reason: `${join(t.path, "index.json")} cannot be read (${(e as NodeJS.ErrnoException).code}): is it an OCI image layout?` })
        }
        const read = (d: Digest) => verifiedLayoutBlob(input, t.path, d)
        const { descriptor } = await pickManifest(input, (await decodeIndex(indexBytes)).value.manifests, t.ref, read)
        const img = await imageOf(input, descriptor, read)
        // the layer file as it lies; applyLayer checks its digest and diffID on the way
        return { label: input, ...img, open: async (l: LayerDescriptor) => layoutBlobPath(t.path, l.digest) }
      })
    }
    if (t.kind === "oci-archive" || t.kind === "docker-archive") {
      if ("path" in t) yield* io(() => assertReadable(input, t.path))
      // an archive is read into a scratch store (cas checks every member, as import does) that goes
      // when the operation ends; its name marks it as this process's temp, so open() clears it after a crash
      const scratch = yield* Effect.acquireRelease(
        io(async () => {
          await mkdir(ctx.layout.snapshots, { recursive: true })
          return join(ctx.layout.snapshots, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}-source`)
        }),
        (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
      )
      return yield* io(async (signal) => {
        const store = await Store.open(scratch)
        // an interrupted unpack stops cas reading the archive
        const imported = await store.importArchive("path" in t ? t.path : t.read, { name: "path" in t ? t.path : (t.label ?? "<stream>"), signal })
        const chosen = chooseArchiveImage(input, imported, t.ref)
        const read = (d: Digest) => store.read(d)
        const { descriptor } = await pickManifest(input, [chosen.descriptor], undefined, read)
        const img = await imageOf(input, descriptor, read)
        return { label: input, ...img, open: (l: LayerDescriptor) => store.get(l.digest) }
      })
    }
    return yield* new InvalidSourceError({ source: input, reason: `${t.kind}: is not a source to unpack (pull docker:// images first)` })
  })

/**
 * Builds `dir` through `build(tmp)` in a temporary sibling, renamed to `dir` once complete. `dir`
 * must be absent or empty; on failure or interruption the sibling is removed and `dir` is as it was.
 */
const intoFreshDir = (dir: string, io: Io, build: (tmp: string) => Effect.Effect<void, EngineError>): Effect.Effect<void, EngineError> => {
  const target = resolve(dir)
  return Effect.acquireUseRelease(
    io(async () => {
      const existing = await readdir(target).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return undefined
        throw e
      })
      if (existing !== undefined && existing.length > 0) throw new InvalidSourceError({ source: dir, reason: "the target directory is not empty", action: "unpack into" })
      await mkdir(dirname(target), { recursive: true })
      const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
      await mkdir(tmp, { mode: 0o755 })
      return tmp
    }),
    (tmp) =>
      Effect.andThen(
        build(tmp),
        io(() =>
          // rename(2) replaces an empty directory; a target filled meanwhile fails it (ENOTEMPTY)
          rename(tmp, target).catch((e: NodeJS.ErrnoException) => {
            if (e.code === "ENOTEMPTY" || e.code === "EEXIST") throw new InvalidSourceError({ source: dir, reason: "the target directory was filled while unpacking" })
            throw e
          })
        )
      ),
    (tmp) => Effect.promise(() => rm(tmp, { recursive: true, force: true }))
  )
}

/**
 * Applies the source's layers in order onto `rootfs`; a failure names the layer (index and
 * digest). Interrupted, it stops after the layer being applied.
 */
const applyAll = (ctx: EngineContext, src: FlatSource, rootfs: string, shownTarget: string, io: Io): Effect.Effect<void, EngineError> =>
  Effect.gen(function*() {
    const local = src.local
    if (local !== undefined && local.layers.length > 0) {
      // an image whose snapshots exist (import, pull, create made them) is copied from them
      const copied = yield* io(() => withSnapshotLease(ctx.layout, local.chain, () => flatFromSnapshots(ctx, local.chain, rootfs)))
      if (copied) return
    }
    const open = src.open
    for (const [i, layer] of src.layers.entries()) {
      yield* io(() => ctx.applyFlat(layer, src.diffIds[i]!, rootfs, open === undefined ? undefined : () => open(layer))).pipe(
        // a refused media type already names the layer and why: pass it on as it is
        Effect.mapError((e) =>
          e instanceof LayerMediaTypeError ? e : new LayerApplyError({ image: src.label, index: i, layers: src.layers.length, digest: layer.digest, target: shownTarget, cause: e instanceof EngineIOError ? e.cause : e })
        )
      )
    }
  })

const ioOf = (what: string, image: string | ImageSource, dir: string): Io => (f) => attempt(`${what} of ${locationName(image)} into`, dir, f)

/**
 * Applies every layer in order (whiteouts delete) into `dir`, which must be empty or absent.
 * `image` is a local image or an oci:/oci-archive:/docker-archive: source.
 */
export const unpack = (ctx: EngineContext, image: string | ImageSource, dir: string, options: UnpackOptions = {}): Effect.Effect<void, EngineError> => {
  const io = ioOf("unpack", image, dir)
  return Effect.scoped(Effect.flatMap(flatSource(ctx, image, options, io), (src) => intoFreshDir(dir, io, (tmp) => applyAll(ctx, src, tmp, dir, io))))
}

/** DIR/rootfs + DIR/config.json (runtime-spec), ready for `crun run --bundle DIR`. */
export const bundle = (ctx: EngineContext, image: string | ImageSource, dir: string, options: RuntimeSpecOptions & UnpackOptions = {}): Effect.Effect<void, EngineError> => {
  const { keep, ...spec } = options
  const io = ioOf("bundle", image, dir)
  return Effect.scoped(
    Effect.flatMap(flatSource(ctx, image, keep === undefined ? {} : { keep }, io), (src) =>
      intoFreshDir(dir, io, (tmp) =>
        Effect.gen(function*() {
          const rootfs = join(tmp, "rootfs")
          yield* io(() => mkdir(rootfs))
          yield* applyAll(ctx, src, rootfs, dir, io)
          yield* io(async () => writeJsonAtomic(join(tmp, "config.json"), await runtimeSpec(src.config, rootfs, spec)))
        })
      )
    )
  )
}
