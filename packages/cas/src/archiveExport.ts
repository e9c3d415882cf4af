// Export as tarballs: oci-archive (an OCI layout in a tar, what `skopeo copy oci-archive:` reads)
// and docker-archive (manifest.json + <config>.json + <diffID>/layer.tar, what `docker load` and
// `skopeo copy docker-archive:` read). Entries are deterministic (mtime 0, root-owned).
import { createWriteStream } from "node:fs"
import { open, rename, unlink } from "node:fs/promises"
import { dirname } from "node:path"
import { PassThrough, pipeline as pipelineCb, type Readable, type Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip } from "node:zlib"
import { type Digest, digestHex, digestReadable } from "@cairn/digest"
import {
  type Descriptor,
  DockerMediaType,
  decodeDocument,
  isIndexMediaType,
  layerCompression,
  OciMediaType,
  selectManifest
} from "@cairn/oci-spec/lazy"
import * as tar from "tar-stream"
import { fsyncDir, tempNameFor } from "./atomicFile.js"
import type { BlobStore } from "./blobStore.js"
import { StoreIoError, UnsupportedLayerError } from "./errors.js"
import { MAX_DOCUMENT_BYTES, walkGraph } from "./graph.js"
import { INDEX_MEDIA_TYPE } from "./layout.js"
import { REF_NAME, validateRefName } from "./refName.js"

export interface ExportImage {
  readonly descriptor: Descriptor
  /** oci-archive: the ref.name; docker-archive: RepoTags entries (e.g. "busybox:1.36") */
  readonly names: readonly string[]
}

const mtime = new Date(0)

/** Write a tar to a path (temp + fsync + rename) or into a stream. */
async function writeTar(out: string | Writable, fill: (pack: tar.Pack) => Promise<void>): Promise<void> {
  const pack = tar.pack()
  if (typeof out !== "string") {
    const done = pipeline(pack, out)
    try {
      await fill(pack)
      pack.finalize()
    } catch (e) {
      pack.destroy(e as Error)
      await done.catch(() => {})
      throw e
    }
    return done
  }
  const tmp = tempNameFor(out)
  const file = createWriteStream(tmp, { flags: "wx" })
  const done = pipeline(pack, file)
  try {
    await fill(pack)
    pack.finalize()
    await done
    const fh = await open(tmp, "r")
    await fh.sync()
    await fh.close()
    await rename(tmp, out)
    await fsyncDir(dirname(out))
  } catch (e) {
    pack.destroy(e as Error)
    await done.catch(() => {})
    await unlink(tmp).catch(() => {})
    throw e
  }
}

/** Add one file entry whose body is streamed (tar needs the size up front). */
function addEntry(pack: tar.Pack, name: string, size: number, body: Readable | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const header = { name, size: Buffer.isBuffer(body) ? body.length : size, mode: 0o644, mtime, uid: 0, gid: 0, type: "file" as const }
    if (Buffer.isBuffer(body)) {
      pack.entry(header, body, (err) => (err ? reject(err) : resolve()))
      return
    }
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()))
    pipelineCb(body, sink, (err) => {
      if (err) reject(err)
    })
  })
}

function addDir(pack: tar.Pack, name: string): void {
  pack.entry({ name, type: "directory", mode: 0o755, mtime, uid: 0, gid: 0 })
}

export async function exportOciArchive(store: BlobStore, images: readonly ExportImage[], out: string | Writable): Promise<void> {
  for (const i of images) for (const n of i.names) validateRefName(n)
  const { nodes } = await walkGraph(store, images.map((i) => i.descriptor), { missing: "error" })
  const manifests = images.flatMap((i) =>
    i.names.length === 0 ? [i.descriptor] : i.names.map((n) => ({ ...i.descriptor, annotations: { ...(i.descriptor.annotations ?? {}), [REF_NAME]: n } }))
  )
  await writeTar(out, async (pack) => {
    await addEntry(pack, "oci-layout", 0, Buffer.from(`${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`))
    addDir(pack, "blobs/")
    const algs = new Set(nodes.map((n) => n.descriptor.digest.slice(0, n.descriptor.digest.indexOf(":"))))
    for (const a of algs) addDir(pack, `blobs/${a}/`)
    for (const n of nodes) {
      const d = n.descriptor.digest
      const size = (await store.stat(d))?.size ?? n.descriptor.size
      await addEntry(pack, `blobs/${d.replace(":", "/")}`, size, await store.get(d, { verify: true }))
    }
    await addEntry(pack, "index.json", 0, Buffer.from(`${JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests }, null, 2)}\n`))
  })
}

interface DockerImagePlan {
  readonly configDigest: Digest
  readonly configBytes: Uint8Array
  readonly layers: ReadonlyArray<{ readonly descriptor: Descriptor; readonly diffId: Digest; readonly size: number }>
  readonly repoTags: readonly string[]
}

/** The single-platform manifest of an image (an index resolves to the host platform's entry). */
async function imageManifest(store: BlobStore, descriptor: Descriptor): Promise<Descriptor> {
  let d = descriptor
  for (let depth = 0; isIndexMediaType(d.mediaType); depth++) {
    if (depth > 8) throw new UnsupportedLayerError({ digest: d.digest, mediaType: d.mediaType, reason: "index nested too deep" })
    const kind = d.mediaType === OciMediaType.ImageIndex ? "index" : "docker-manifest-list"
    const { value } = await decodeDocument(kind, await store.read(d.digest, MAX_DOCUMENT_BYTES))
    d = selectManifest(value as { manifests: readonly Descriptor[] })
  }
  return d
}

/** The uncompressed stream of a layer; zstd needs a decoder Node 20 lacks. */
async function uncompressed(store: BlobStore, layer: Descriptor): Promise<Readable> {
  const c = layerCompression(layer.mediaType) ?? "none"
  const raw = await store.get(layer.digest, { verify: true })
  if (c === "none") return raw
  if (c === "gzip") {
    // the blob's digest check (at its end) or gunzip's own must fail the entry, naming the blob
    const gunzip = createGunzip()
    const out = new PassThrough()
    pipelineCb(raw, gunzip, (err) => {
      if (!err) return
      const tagged = typeof (err as { _tag?: unknown })._tag === "string"
      out.destroy(
        tagged
          ? err
          : new StoreIoError({
              code: (err as NodeJS.ErrnoException).code ?? "EIO",
              path: "",
              reason: `layer blob ${layer.digest} cannot be decompressed (${err.message}): the store's copy is damaged (cairn fsck finds it)`
            })
      )
    })
    gunzip.pipe(out)
    return out
  }
  raw.destroy()
  throw new UnsupportedLayerError({ digest: layer.digest, mediaType: layer.mediaType, reason: "a docker-archive needs uncompressed layers and zstd cannot be decompressed here (Node 20 has no zstd)" })
}

async function planDockerImage(store: BlobStore, image: ExportImage): Promise<DockerImagePlan> {
  const md = await imageManifest(store, image.descriptor)
  const kind = md.mediaType === DockerMediaType.Manifest ? "docker-manifest" : "manifest"
  const { value } = await decodeDocument(kind, await store.read(md.digest, MAX_DOCUMENT_BYTES))
  const manifest = value as { config: Descriptor; layers: readonly Descriptor[] }
  const configBytes = await store.read(manifest.config.digest, MAX_DOCUMENT_BYTES)
  const config = JSON.parse(Buffer.from(configBytes).toString("utf8")) as { rootfs?: { diff_ids?: string[] } }
  const diffIds = config.rootfs?.diff_ids ?? []
  const layers = []
  for (const [i, layer] of manifest.layers.entries()) {
    const c = layerCompression(layer.mediaType)
    if (c === undefined) throw new UnsupportedLayerError({ digest: layer.digest, mediaType: layer.mediaType, reason: "not a tar layer" })
    let diffId = layer.digest
    let size = layer.size
    if (c !== "none") {
      // one pass to learn the tar's size (the tar header needs it) and check it against diff_ids
      const r = await digestReadable(await uncompressed(store, layer))
      diffId = r.digest
      size = r.size
    }
    if (diffIds[i] !== undefined && diffIds[i] !== diffId) {
      throw new UnsupportedLayerError({ digest: layer.digest, mediaType: layer.mediaType, reason: `uncompressed digest ${diffId} is not the config's diff_ids[${i}] ${diffIds[i]}` })
    }
    layers.push({ descriptor: layer, diffId, size })
  }
  return { configDigest: manifest.config.digest, configBytes, layers, repoTags: image.names }
}

export async function exportDockerArchive(store: BlobStore, images: readonly ExportImage[], out: string | Writable): Promise<void> {
  const plans: DockerImagePlan[] = []
  for (const image of images) plans.push(await planDockerImage(store, image))
  await writeTar(out, async (pack) => {
    const written = new Set<string>()
    const manifestJson = []
    const repositories: Record<string, Record<string, string>> = {}
    for (const p of plans) {
      const configName = `${digestHex(p.configDigest)}.json`
      if (!written.has(configName)) {
        written.add(configName)
        await addEntry(pack, configName, p.configBytes.length, Buffer.from(p.configBytes))
      }
      const layerNames = []
      for (const l of p.layers) {
        const dir = digestHex(l.diffId)
        const name = `${dir}/layer.tar`
        layerNames.push(name)
        if (written.has(name)) continue
        written.add(name)
        addDir(pack, `${dir}/`)
        await addEntry(pack, name, l.size, await uncompressed(store, l.descriptor))
      }
      manifestJson.push({ Config: configName, RepoTags: p.repoTags.length > 0 ? p.repoTags : null, Layers: layerNames })
      const top = p.layers.at(-1)
      for (const t of p.repoTags) {
        const colon = t.lastIndexOf(":")
        if (top && colon > t.lastIndexOf("/")) (repositories[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = digestHex(top.diffId)
      }
    }
    await addEntry(pack, "manifest.json", 0, Buffer.from(JSON.stringify(manifestJson)))
    if (Object.keys(repositories).length > 0) await addEntry(pack, "repositories", 0, Buffer.from(JSON.stringify(repositories)))
  })
}
