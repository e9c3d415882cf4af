// Import from / export to OCI layouts, oci-archive and docker-archive (via @cairn/cas).
import { createReadStream } from "node:fs"
import { randomBytes } from "node:crypto"
import { access, mkdir, readFile, rename, rm, stat } from "node:fs/promises"
import { basename, dirname, join, resolve } from "node:path"
import { Readable } from "node:stream"
import type { ImportedImage, ImportReport } from "@cairn/cas"
import { type Digest, digestHex, parseDigest } from "@cairn/digest"
import { asOciIndex, decodeAnyManifest, decodeIndex, type Descriptor, isIndexMediaType, layerCompression, selectManifest } from "@cairn/oci-spec/lazy"
import * as Effect from "effect/Effect"
import type { EngineContext } from "./context.js"
import { InvalidSourceError } from "./errors.js"
import { counted } from "./layers.js"
import { ensureSnapshots, findImage, type ImageSummary, loadImage, summarize } from "./images.js"
import { type ArchiveFileLocation, type ArchiveReaderLocation, type ArchiveWriterLocation, expectLocation, type ImageDestination, type ImageLocation, type ImageSource, locationName } from "./location.js"
import { normalizeName } from "./reference.js"
import { withSnapshotLease } from "./snapshotLease.js"
import { stackOf } from "./snapshots.js"

const REF_NAME = "org.opencontainers.image.ref.name"

/**
 * Picks the manifest a layout names with `ref` (or its only one), descending into an index for the
 * host platform unless `allPlatforms` keeps the index itself.
 */
export async function pickManifest(
  source: string,
  entries: ReadonlyArray<Descriptor>,
  ref: string | undefined,
  readBlob: (d: Digest) => Promise<Uint8Array>,
  allPlatforms = false
): Promise<{ descriptor: Descriptor; sourceName?: string }> {
  let chosen: Descriptor | undefined
  if (ref !== undefined) {
    chosen = entries.filter((e) => e.annotations?.[REF_NAME] === ref).at(-1)
    if (chosen === undefined) {
      const names = entries.map((e) => e.annotations?.[REF_NAME]).filter((n) => n !== undefined)
      throw new InvalidSourceError({ source, reason: `no image tagged ${JSON.stringify(ref)}; it has ${names.length > 0 ? names.join(", ") : "no tags"}` })
    }
  } else {
    if (entries.length !== 1) {
      const names = entries.map((e) => e.annotations?.[REF_NAME] ?? e.digest)
      throw new InvalidSourceError({ source, reason: `it holds ${entries.length} images (${names.join(", ")}): name one with :TAG` })
    }
    chosen = entries[0]!
  }
  const sourceName = chosen.annotations?.[REF_NAME]
  let descriptor = chosen
  for (let depth = 0; !allPlatforms && isIndexMediaType(descriptor.mediaType) && depth < 4; depth++) {
    const index = (await decodeIndex(await readBlob(descriptor.digest))).value
    descriptor = selectManifest(index)
  }
  return { descriptor, ...(sourceName === undefined ? {} : { sourceName }) }
}

export interface ImportOptions {
  /**
   * Extract the layers into snapshots now (default true, as `docker load` does). false defers
   * them to first use (`ctr images import --no-unpack`): create, mount, unpack and bundle make
   * the missing ones.
   */
  readonly unpack?: boolean
  /** keep a multi-platform image whole (every platform; the name points at its index), as `pull --all-platforms` */
  readonly allPlatforms?: boolean
  /** aborts the import: its reads stop, nothing is named, and what it stored goes with its lease */
  readonly signal?: AbortSignal
}

/** Tags (or keeps untagged) an imported manifest, extracts its snapshots (unless told not to), returns its summary. */
export async function adoptImage(
  ctx: EngineContext,
  descriptor: Descriptor,
  name: string | undefined,
  ref: string,
  options: ImportOptions = {}
): Promise<ImageSummary> {
  const clean: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size }
  const probe = await loadImage(ctx, { descriptor: clean, names: [] }, ref)
  return withSnapshotLease(ctx.layout, stackOf(probe.diffIds), async () => {
    options.signal?.throwIfAborted()
    if (options.unpack !== false) {
      // layers of a media type cairn cannot extract are stored as they are: snapshots stop below them
      const known = probe.layers.findIndex((l) => layerCompression(l.mediaType) === undefined)
      await Effect.runPromise(ensureSnapshots(ctx, known < 0 ? probe : { ...probe, layers: probe.layers.slice(0, known), diffIds: probe.diffIds.slice(0, known) }, ref))
    }
    // an abort during extraction: the snapshots made stay (shared, prune takes them), the name never lands
    options.signal?.throwIfAborted()
    if (name !== undefined) await ctx.store.tag(name, clean)
    else await ctx.store.addUntagged(clean)
    return summarize({ ...probe, names: name === undefined ? [] : [name] })
  })
}

/**
 * Puts every blob of a manifest (config, layers, itself) from `open` into the store under `lease`;
 * an index's manifests first (each with its blobs), then the index, so nothing names a missing blob.
 */
async function copyBlobs(
  ctx: EngineContext,
  descriptor: Descriptor,
  readBlob: (d: Digest) => Promise<Uint8Array>,
  openBlob: (d: Digest) => AsyncIterable<Uint8Array>,
  lease: string,
  ref: string,
  signal: AbortSignal | undefined,
  depth = 0
): Promise<void> {
  signal?.throwIfAborted()
  const doc = await decodeAnyManifest(await readBlob(descriptor.digest), descriptor.mediaType)
  const index = asOciIndex(doc)
  if (index !== undefined && depth < 4) {
    for (const child of index.manifests) await copyBlobs(ctx, child, readBlob, openBlob, lease, ref, signal, depth + 1)
  } else if (doc.kind !== "manifest" && doc.kind !== "docker-manifest") {
    throw new InvalidSourceError({ source: ref, reason: `${descriptor.digest} is not an image manifest` })
  } else {
    for (const b of [doc.value.config, ...doc.value.layers]) {
      signal?.throwIfAborted()
      if ((await ctx.store.stat(b.digest)) !== undefined) continue
      const emit = (bytes: number) => ctx.progress.emit({ kind: "blob", phase: "store", digest: b.digest, bytes, total: b.size, ref })
      await ctx.store.put({ digest: b.digest, size: b.size, mediaType: b.mediaType }, counted(Readable.from(openBlob(b.digest)), emit), lease)
    }
  }
  await ctx.store.put({ digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType }, doc.bytes, lease)
}

/** An OCI layout's image (its blobs and manifest) put into the store under `lease`, untagged. */
async function readLayout(ctx: EngineContext, source: string, path: string, ref: string | undefined, lease: string, allPlatforms = false, signal?: AbortSignal) {
    const t = { path, ref }
    const blobPath = (d: Digest) => join(t.path, "blobs", parseDigest(d).split(":")[0]!, digestHex(d))
    const readBlob = (d: Digest) => readFile(blobPath(d))
    let indexBytes: Uint8Array
    try {
      indexBytes = await readFile(join(t.path, "index.json"))
    } catch (e) {
      throw new InvalidSourceError({ source, reason: `${join(t.path, "index.json")} cannot be read (${(e as NodeJS.ErrnoException).code}): is it an OCI image layout?` })
    }
    const index = (await decodeIndex(indexBytes)).value
    const { descriptor, sourceName } = await pickManifest(source, index.manifests, t.ref, readBlob, allPlatforms)
    // an abort destroys the blob's read stream: the store's put fails and keeps nothing under its digest
    await copyBlobs(ctx, descriptor, readBlob, (d) => createReadStream(blobPath(d), signal === undefined ? {} : { signal }), lease, source, signal)
    return { descriptor, sourceName }
}

export async function fetchLayout(ctx: EngineContext, location: ImageLocation, lease: string, allPlatforms = false, signal?: AbortSignal): Promise<Descriptor> {
  const t = expectLocation(location, ["oci"], "expected oci:PATH[:TAG]")
  return (await readLayout(ctx, locationName(t), t.path, t.ref, lease, allPlatforms, signal)).descriptor
}

export async function importImage(ctx: EngineContext, location: ImageSource, name?: string, options: ImportOptions = {}): Promise<ImageSummary> {
  const source = locationName(location)
  const t = expectLocation(location, ["oci", "oci-archive", "docker-archive"], `${location.kind}: is not an import source (use pull for docker://)`)
  const target = name === undefined ? undefined : normalizeName(name)
  if (t.kind === "oci") {
    return ctx.store.withLease(async (lease) => {
      const { descriptor, sourceName } = await readLayout(ctx, source, t.path, t.ref, lease, options.allPlatforms, options.signal)
      return adoptImage(ctx, descriptor, target ?? defaultImportName(sourceName), source, options)
    })
  }
  return importArchive(ctx, t, target, options)
}

/** an archive as import and copy are given it: a file, bytes as they arrive, or (refused) a stream to write into */
type ArchiveSource = ArchiveFileLocation | ArchiveReaderLocation | ArchiveWriterLocation

/** Reads an archive (a file, or bytes as they arrive) into the store: tagging its images as docker load does, or held by `lease` only. */
async function readArchive(ctx: EngineContext, archive: ArchiveSource, lease?: string, signal?: AbortSignal): Promise<ImportReport> {
  if ("write" in archive) throw new InvalidSourceError({ source: locationName(archive), reason: "an archive to read from, not one being written" })
  if ("read" in archive) return ctx.store.importArchive(archive.read, lease, signal, archive.label ?? "<stream>")
  await assertReadable(locationName(archive), archive.path)
  return ctx.store.importArchive(archive.path, lease, signal)
}

/** An archive file that cannot be opened is the user's input to fix: say which and why. */
export async function assertReadable(source: string, file: string): Promise<void> {
  try {
    await access(file)
  } catch (e) {
    throw new InvalidSourceError({ source, reason: `${file} cannot be read (${(e as NodeJS.ErrnoException).code})` })
  }
}

/** The one image of an archive named `ref` (its only image when no ref is given). */
export function chooseArchiveImage(source: string, report: ImportReport, ref: string | undefined): ImportedImage {
  // a name as written wins; else docker's equivalence (skopeo writes RepoTags as
  // docker.io/library/busybox:1, which busybox:1 names too)
  const wanted = ref === undefined ? undefined : (defaultImportName(ref) ?? ref)
  const exact = report.images.filter((i) => ref !== undefined && i.tags.includes(ref))
  const candidates =
    exact.length > 0 ? exact : report.images.filter((i) => wanted === undefined || i.tags.some((t) => t === wanted || defaultImportName(t) === wanted))
  if (candidates.length !== 1) {
    const names = report.images.map((i) => i.tags.join(",") || i.descriptor.digest)
    throw new InvalidSourceError({
      source,
      reason: candidates.length === 0 ? `no image named ${JSON.stringify(ref)}; it has ${names.join(", ")}` : `it holds ${candidates.length} images (${names.join(", ")}): name one with :REF`
    })
  }
  return candidates[0]!
}

async function importArchive(ctx: EngineContext, archive: ArchiveSource, target: string | undefined, options: ImportOptions): Promise<ImageSummary> {
  const source = locationName(archive)
  // held by a lease while it is read and unpacked: nothing is named until all of it is in (an
  // abort or a bad layer leaves no name behind)
  return ctx.store.withLease(async (lease) => {
    const report = await readArchive(ctx, archive, lease, options.signal)
    const chosen = chooseArchiveImage(source, report, archive.ref)
    const firstName = chosen.tags.map(defaultImportName).find((n) => n !== undefined)
    const { descriptor } = await pickManifest(source, [chosen.descriptor], undefined, (d) => ctx.store.read(d), options.allPlatforms)
    const name = target ?? firstName
    const img = await adoptImage(ctx, descriptor, name, source, options)
    // then the archive's own names, as docker load gives them; names that are not name:tag are dropped
    for (const i of report.images) {
      for (const tag of i.tags) {
        if (tag !== name && defaultImportName(tag) === tag) await ctx.store.tag(tag, { mediaType: i.descriptor.mediaType, digest: i.descriptor.digest, size: i.descriptor.size })
      }
    }
    return img
  })
}

/**
 * An archive's image (picked by :REF as importImage picks it) put into the store under `lease`,
 * untagged: none of the archive's images gets a name or an index.json entry.
 */
export async function fetchArchive(ctx: EngineContext, location: ImageLocation, lease: string, allPlatforms = false, signal?: AbortSignal): Promise<Descriptor> {
  const source = locationName(location)
  const t = expectLocation(location, ["oci-archive", "docker-archive"], "expected oci-archive:FILE[:REF] or docker-archive:FILE[:REF]")
  const chosen = chooseArchiveImage(source, await readArchive(ctx, t, lease, signal), t.ref)
  signal?.throwIfAborted()
  return (await pickManifest(source, [chosen.descriptor], undefined, (d) => ctx.store.read(d), allPlatforms)).descriptor
}

/** The source's tag as a local name, when it is one. */
export const defaultImportName = (sourceName: string | undefined): string | undefined => {
  if (sourceName === undefined) return undefined
  try {
    // docker's familiar form: docker.io/library/busybox:1 is busybox:1
    return normalizeName(sourceName.replace(/^docker\.io\/(library\/)?/, ""))
  } catch {
    return undefined
  }
}

/**
 * Writes an image to `oci:PATH[:TAG]`, `oci-archive:FILE[:REF]` or `docker-archive:FILE[:REF]`
 * (default name: the image's): all of it, or with `allPlatforms` false only this host's manifest
 * of a multi-platform image (a docker-archive holds one platform either way). Returns what was written.
 */
export async function exportImage(ctx: EngineContext, image: string, location: ImageDestination, allPlatforms = true): Promise<Descriptor> {
  const t = expectLocation(location, ["oci", "oci-archive", "docker-archive"], "export goes to oci:PATH[:TAG], oci-archive:FILE or docker-archive:FILE (use push for docker://)")
  if ("read" in t) throw new InvalidSourceError({ source: locationName(t), reason: "an archive to write into, not one being read" })
  const found = await findImage(ctx, image)
  const stored = allPlatforms ? found : { ...found, descriptor: (await loadImage(ctx, found, image)).manifestDescriptor }
  let asName: string | undefined
  try {
    asName = normalizeName(image)
  } catch {}
  const name = t.ref ?? (asName !== undefined && stored.names.includes(asName) ? asName : stored.names[0])
  if ("write" in t) {
    // a stream: written as the tar is made, ended when complete, destroyed on a failure
    await ctx.store.exportImage(t.kind, t.write, stored.descriptor, name)
    return stored.descriptor
  }
  if (t.kind !== "oci" || (await exists(t.path))) {
    // archives are written to a temp sibling and renamed by @cairn/cas; an existing layout gets
    // verified blobs one by one and its index.json entry last
    await ctx.store.exportImage(t.kind, t.path, stored.descriptor, name)
    return stored.descriptor
  }
  // a new layout is built beside its path and renamed into place once complete
  const target = resolve(t.path)
  await mkdir(dirname(target), { recursive: true })
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
  try {
    await ctx.store.exportImage("oci", tmp, stored.descriptor, name)
    await rename(tmp, target).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOTEMPTY" || e.code === "EEXIST") throw new InvalidSourceError({ source: locationName(t), reason: `${t.path} was created by someone else meanwhile` })
      throw e
    })
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  return stored.descriptor
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return false
      throw e
    }
  )
