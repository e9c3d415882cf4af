// Import of `docker save` tarballs (classic manifest.json + <id>/layer.tar, and the newer kind
// that embeds an OCI layout) and oci-archive tarballs, plain or gzip-compressed. Every member is staged in the ingest area
// and verified first; only when the whole archive makes sense (paths inside, graph complete, tag
// names valid, diffIDs matching) do the needed blobs become visible. A bad archive stores nothing.
import { createReadStream } from "node:fs"
import { open, readFile } from "node:fs/promises"
import { addAbortSignal, Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip } from "node:zlib"
import { type Digest, digestBytes, digestReadable, parseDigest } from "@cairn/digest"
import { type Descriptor, OciMediaType } from "@cairn/oci-spec/lazy"
import * as tar from "tar-stream"
import { isGzip, plainArchive } from "./archiveBytes.js"
import { archiveLinkTarget, archiveMemberPath } from "./archivePath.js"
import type { BlobStore, StagedBlob } from "./blobStore.js"
import { ArchiveFormatError } from "./errors.js"
import { type GraphSource, walkGraph } from "./graph.js"
import { parseIndexFile } from "./indexFile.js"
import { createLease, releaseLease } from "./leases.js"
import { isValidRefName, REF_NAME, validateRefName } from "./refName.js"
import { addRoot, tag } from "./tags.js"

/**
 * By default the archive's images are tagged with their names (untagged ones added as plain
 * index.json roots), as `docker load` does. With `tag: false` nothing lands in index.json: the
 * blobs and manifests are held by the caller's `lease` instead (a copy passing through the store).
 */
export type ImportOptions = {
  /** how errors name the archive (default: its path, or "<stream>") */
  readonly name?: string
  /** stops reading the archive when it fires: the import fails and stores nothing of it */
  readonly signal?: AbortSignal
} & (
  | {
      readonly tag?: true
      /** hold what is stored under this live lease too (default: a lease of the import's own, released once tagged) */
      readonly lease?: string
    }
  | { readonly tag: false; readonly lease: string }
)

export interface ImportedImage {
  readonly descriptor: Descriptor
  readonly tags: readonly string[]
}

export interface ImportReport {
  readonly format: "docker-archive" | "oci-archive"
  readonly images: readonly ImportedImage[]
  /** blobs that were new to the store */
  readonly created: number
}

type Member =
  | { readonly kind: "doc"; readonly bytes: Buffer }
  | { readonly kind: "staged"; readonly blob: StagedBlob }
  | { readonly kind: "present"; readonly digest: Digest; readonly size: number }
  | { readonly kind: "link"; readonly target: string }

const MAX_DOC = 16 << 20
const CONTAINERD_NAME = "io.containerd.image.name"
const isDocName = (n: string) => n === "manifest.json" || n === "repositories" || n === "index.json" || n === "oci-layout" || n.endsWith(".json")

async function readMember(archive: string, name: string, body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  let n = 0
  for await (const c of body) {
    n += c.length
    if (n > MAX_DOC) throw new ArchiveFormatError({ archive, reason: `${name} is larger than ${MAX_DOC} bytes` })
    parts.push(Buffer.from(c))
  }
  return Buffer.concat(parts)
}

/** Where a member's bytes are and what they hash to. */
interface BlobRef {
  readonly digest: Digest
  readonly size: number
  readonly path: string
  readonly staged?: StagedBlob
}

function parseJson(archive: string, name: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"))
  } catch (e) {
    throw new ArchiveFormatError({ archive, reason: `${name} is not valid JSON (${(e as Error).message})` })
  }
}

async function firstBytes(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, "r")
  try {
    const b = Buffer.alloc(n)
    const { bytesRead } = await fh.read(b, 0, n, 0)
    return b.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

export async function importArchive(store: BlobStore, input: string | AsyncIterable<Uint8Array> | Readable, options: ImportOptions = {}): Promise<ImportReport> {
  const archive = options.name ?? (typeof input === "string" ? input : "<stream>")
  const signal = options.signal
  // untagged and unleased, the blobs would be GC's to take the moment they land
  if (options.tag === false && typeof options.lease !== "string") throw new TypeError("importArchive with tag: false needs the lease that holds its blobs")
  const members = new Map<string, Member>()
  const staged: StagedBlob[] = []
  try {
    const extract = tar.extract()
    // plain or gzip-compressed (docker load takes both); a file in 1 MiB reads; with a signal,
    // through a stream it destroys
    const source =
      typeof input === "string"
        ? createReadStream(input, { highWaterMark: 1 << 20, ...(signal === undefined ? {} : { signal }) })
        : signal === undefined
          ? input
          : addAbortSignal(signal, input instanceof Readable ? input : Readable.from(input))
    const bytes = await plainArchive(source)
    const feeding = pipeline(bytes, extract)
    feeding.catch(() => {})
    try {
      for await (const entry of extract) {
        const h = entry.header
        const name = archiveMemberPath(archive, h.name)
        if (h.type === "file" || h.type === "contiguous-file") {
          if (isDocName(name)) {
            members.set(name, { kind: "doc", bytes: await readMember(archive, name, entry as AsyncIterable<Uint8Array>) })
            continue
          }
          const m = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name)
          const digest = m ? parseDigest(`${m[1]}:${m[2]}`) : undefined
          if (digest && (await store.stat(digest))?.size === h.size) {
            entry.resume()
            members.set(name, { kind: "present", digest, size: h.size ?? 0 })
            continue
          }
          // a blob named by its digest is verified against it while it streams in
          // no resume can finish a member cut short: its partial goes with the failure
          const blob = await store.stage(entry as AsyncIterable<Uint8Array>, { ...(digest ? { digest } : {}), ...(h.size !== undefined ? { size: h.size } : {}), resumable: false })
          staged.push(blob)
          members.set(name, { kind: "staged", blob })
        } else if (h.type === "symlink") {
          members.set(name, { kind: "link", target: archiveLinkTarget(archive, name, h.linkname ?? "") })
          entry.resume()
        } else if (h.type === "link") {
          members.set(name, { kind: "link", target: archiveMemberPath(archive, h.linkname ?? "") })
          entry.resume()
        } else entry.resume()
      }
      await feeding
    } catch (e) {
      // stopped by the caller: say so, not how the destroyed stream surfaced
      if (signal?.aborted) throw signal.reason
      // tar-stream's word for a tar that stops inside a member or before its end blocks
      if ((e as Error | undefined)?.message === "Unexpected end of data") throw new ArchiveFormatError({ archive, reason: "not a whole image archive: the tar stream ends in the middle (cut short?)" })
      throw e
    }

    const member = (path: string): Member | undefined => {
      let m = members.get(path)
      for (let hops = 0; m?.kind === "link" && hops < 16; hops++) m = members.get(m.target)
      return m?.kind === "link" ? undefined : m
    }
    const blobRef = (m: Member | undefined): BlobRef | undefined => {
      if (m?.kind === "staged") return { digest: m.blob.digest, size: m.blob.size, path: m.blob.path, staged: m.blob }
      if (m?.kind === "present") return { digest: m.digest, size: m.size, path: store.layout.blobPath(m.digest) }
      return undefined
    }
    const plan =
      members.get("index.json")?.kind === "doc" && members.has("oci-layout")
        ? await planOciLayout(store, archive, members, member, blobRef)
        : members.get("manifest.json")?.kind === "doc"
          ? await planDockerSave(archive, member, blobRef)
          : undefined
    if (!plan) throw new ArchiveFormatError({ archive, reason: "not an image archive: neither manifest.json (docker-archive) nor oci-layout + index.json (oci-archive) is in it (a plain filesystem tar?)" })

    // everything checked: make it visible, under a lease until tagged (or for as long as the
    // caller holds its own)
    const own = options.lease === undefined ? (await store.withGcLock(() => createLease(store.layout, { ttlMs: 24 * 3_600_000 }))).id : undefined
    const lease = options.lease ?? own!
    let created = 0
    try {
      for (const ref of plan.blobs.values()) {
        if (ref.staged) {
          if ((await ref.staged.commit({ lease })).created) created++
        } else await store.put({ digest: ref.digest, size: ref.size }, [], { lease })
      }
      for (const doc of plan.documents) {
        if ((await store.put(doc, { lease })).created) created++
      }
      if (options.tag !== false) {
        for (const image of plan.images) {
          if (image.tags.length === 0) await addRoot(store, image.descriptor)
          for (const t of image.tags) await tag(store, t, image.descriptor)
        }
      }
    } finally {
      if (own !== undefined) await store.withGcLock(() => releaseLease(store.layout, own))
    }
    return { format: plan.format, images: plan.images, created }
  } finally {
    for (const s of staged) await s.discard() // no-op for committed ones
  }
}

interface Plan {
  readonly format: ImportReport["format"]
  /** member blobs to make visible */
  readonly blobs: ReadonlyMap<Digest, BlobRef>
  /** synthesized documents (docker-save configs, manifests) */
  readonly documents: readonly Buffer[]
  readonly images: readonly ImportedImage[]
}

/** oci-archive, and `docker save` from Docker 25+, which embeds an OCI layout. */
async function planOciLayout(
  store: BlobStore,
  archive: string,
  members: Map<string, Member>,
  member: (p: string) => Member | undefined,
  blobRef: (m: Member | undefined) => BlobRef | undefined
): Promise<Plan> {
  const indexMember = member("index.json") as { kind: "doc"; bytes: Buffer }
  const { manifests } = await parseIndexFile(`${archive}:index.json`, indexMember.bytes.toString("utf8"))
  const available = new Map<Digest, BlobRef>()
  for (const [name, m] of members) {
    const ref = blobRef(m)
    if (ref && name.startsWith("blobs/")) available.set(ref.digest, ref)
  }
  const source: GraphSource = {
    stat: async (d) => {
      const ref = available.get(d)
      return ref ? { size: ref.size } : store.stat(d)
    },
    read: async (d, max) => {
      const ref = available.get(d)
      return ref ? readFile(ref.path) : store.read(d, max)
    }
  }
  const { nodes } = await walkGraph(source, manifests, { missing: "error" })
  const blobs = new Map<Digest, BlobRef>()
  for (const n of nodes) {
    const ref = available.get(n.descriptor.digest)
    if (ref) blobs.set(ref.digest, ref)
  }
  const images = manifests.map((d) => {
    const annotations = d.annotations ?? {}
    // Docker names the image in containerd's annotation and puts only the tag in ref.name
    const name = [annotations[CONTAINERD_NAME], annotations[REF_NAME]].find((n) => n !== undefined && isValidRefName(n))
    const bad = annotations[REF_NAME]
    if (name === undefined && bad !== undefined) validateRefName(bad)
    return { descriptor: d, tags: name === undefined ? [] : [name] }
  })
  return { format: members.has("manifest.json") ? "docker-archive" : "oci-archive", blobs, documents: [], images }
}

interface DockerSaveEntry {
  Config?: unknown
  RepoTags?: unknown
  Layers?: unknown
}

/** Classic `docker save`: manifest.json naming <id>.json configs and <id>/layer.tar layers. */
async function planDockerSave(
  archive: string,
  member: (p: string) => Member | undefined,
  blobRef: (m: Member | undefined) => BlobRef | undefined
): Promise<Plan> {
  const manifestMember = member("manifest.json") as { kind: "doc"; bytes: Buffer }
  const entries = parseJson(archive, "manifest.json", manifestMember.bytes)
  if (!Array.isArray(entries) || entries.length === 0) throw new ArchiveFormatError({ archive, reason: "manifest.json must be a non-empty array" })
  // check every path and name before looking at any content
  const parsed = (entries as DockerSaveEntry[]).map((e, i) => {
    if (typeof e?.Config !== "string" || !Array.isArray(e.Layers) || e.Layers.some((l) => typeof l !== "string")) {
      throw new ArchiveFormatError({ archive, reason: `manifest.json[${i}] needs Config (string) and Layers (strings)` })
    }
    const repoTags = e.RepoTags === undefined || e.RepoTags === null ? [] : e.RepoTags
    if (!Array.isArray(repoTags) || repoTags.some((t) => typeof t !== "string")) {
      throw new ArchiveFormatError({ archive, reason: `manifest.json[${i}].RepoTags must be strings` })
    }
    for (const t of repoTags) validateRefName(t)
    return {
      config: archiveMemberPath(archive, e.Config),
      layers: (e.Layers as string[]).map((l) => archiveMemberPath(archive, l)),
      tags: repoTags as string[]
    }
  })
  const blobs = new Map<Digest, BlobRef>()
  const documents: Buffer[] = []
  const images: ImportedImage[] = []
  for (const e of parsed) {
    const cm = member(e.config)
    const ref = blobRef(cm)
    const configBytes = cm?.kind === "doc" ? cm.bytes : ref ? await readFile(ref.path) : undefined
    if (!configBytes) throw new ArchiveFormatError({ archive, reason: `config ${e.config} named in manifest.json is not in the archive` })
    const config = parseJson(archive, e.config, configBytes) as { rootfs?: { diff_ids?: unknown } }
    const diffIds = config?.rootfs?.diff_ids
    if (!Array.isArray(diffIds) || diffIds.length !== e.layers.length) {
      throw new ArchiveFormatError({ archive, reason: `${e.config}: rootfs.diff_ids must list one diffID per layer (${e.layers.length})` })
    }
    const layers: Descriptor[] = []
    for (const [i, path] of e.layers.entries()) {
      const layer = blobRef(member(path))
      if (!layer) throw new ArchiveFormatError({ archive, reason: `layer ${path} named in manifest.json is not in the archive` })
      const magic = await firstBytes(layer.path, 4)
      const gzip = isGzip(magic)
      const zstd = magic.readUInt32LE(0) === 0xfd2fb528 && magic.length === 4
      const wanted = String(diffIds[i])
      let mediaType: string = OciMediaType.Layer
      if (gzip) {
        mediaType = OciMediaType.LayerGzip
        const diffId = (await digestReadable(createReadStream(layer.path).pipe(createGunzip()))).digest
        if (diffId !== wanted) throw new ArchiveFormatError({ archive, reason: `${path}: uncompressed digest ${diffId} is not diff_ids[${i}] ${wanted}` })
      } else if (zstd) {
        // Node 20 has no zstd: the diffID is taken from the config unverified
        mediaType = OciMediaType.LayerZstd
      } else if (layer.digest !== wanted) {
        throw new ArchiveFormatError({ archive, reason: `${path}: digest ${layer.digest} is not diff_ids[${i}] ${wanted}` })
      }
      blobs.set(layer.digest, layer)
      layers.push({ mediaType, digest: layer.digest, size: layer.size })
    }
    if (ref) blobs.set(ref.digest, ref)
    else documents.push(configBytes)
    const configDigest = ref?.digest ?? await digestBytes(configBytes)
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OciMediaType.ImageManifest,
        config: { mediaType: OciMediaType.ImageConfig, digest: configDigest, size: configBytes.length },
        layers
      })
    )
    documents.push(manifest)
    const digest = await digestBytes(manifest)
    images.push({ descriptor: { mediaType: OciMediaType.ImageManifest, digest, size: manifest.length }, tags: e.tags })
  }
  return { format: "docker-archive", blobs, documents, images }
}
