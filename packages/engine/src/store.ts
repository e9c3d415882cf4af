// What the engine needs from the image store, implemented over @cairn/cas's Store. One seam,
// so every other module speaks in images and blobs, not in cas calls.
import type { Readable, Writable } from "node:stream"
import { type FsckOptions, type FsckReport, type GcOptions, type GcReport, type ImportReport, REF_NAME, Store } from "@cairn/cas"
import type { Digest } from "@cairn/digest"
import type { Descriptor } from "@cairn/oci-spec/lazy"
import type { BlobSink, BlobSource } from "@cairn/registry"
import * as Context from "effect/Context"

export interface LayerDescriptor {
  readonly digest: Digest
  readonly size: number
  readonly mediaType: string
}

/** One manifest in index.json with every ref name pointing at it. */
export interface StoredImage {
  readonly descriptor: Descriptor
  readonly names: ReadonlyArray<string>
}

export interface ImageStore {
  readonly root: string
  images(): Promise<Array<StoredImage>>
  read(digest: Digest): Promise<Uint8Array>
  open(digest: Digest): Promise<Readable>
  /**
   * The file that holds a stored blob, for a reader that reads it where it lies (a big layer is
   * read, hashed and decompressed on a thread of its own); undefined when it is not stored, or
   * when the store keeps no files.
   */
  blobFile?(digest: Digest): Promise<string | undefined>
  stat(digest: Digest): Promise<{ size: number } | undefined>
  put(desc: { digest: Digest; size: number; mediaType?: string }, data: Uint8Array | AsyncIterable<Uint8Array>, lease?: string): Promise<void>
  /** Points `name` at the manifest (replacing what it named before). */
  tag(name: string, descriptor: Descriptor): Promise<void>
  /** Removes a name; false when there was none. */
  untag(name: string): Promise<boolean>
  /** Keeps an untagged manifest listed in index.json (a dangling image). */
  addUntagged(descriptor: Descriptor): Promise<void>
  /** Drops every index.json entry of this manifest digest. */
  removeManifest(digest: Digest): Promise<void>
  /** Runs f with a GC lease protecting what it stores until it ends. */
  withLease<T>(f: (lease: string) => Promise<T>): Promise<T>
  gc(options: GcOptions): Promise<GcReport>
  fsck(options: FsckOptions): Promise<FsckReport>
  /** partial ingests (for df) */
  ingests(): Promise<Array<{ size: number; active: boolean }>>
  /** The store as the registry client's BlobSink; what it stores is held by `lease`. */
  sink(lease?: string): BlobSink
  /** The store as the registry client's BlobSource. */
  source(): BlobSource
  /**
   * Imports a docker-archive or oci-archive (cas verifies everything before anything is visible),
   * tagging its images; with `lease`, nothing is tagged and the lease holds what was stored.
   */
  importArchive(input: string | ArchiveInput, lease?: string, signal?: AbortSignal, label?: string): Promise<ImportReport>
  /** Writes one image to an OCI layout dir, or an oci-archive or docker-archive (a file or a stream), under `name`. */
  exportImage(kind: "oci" | "oci-archive" | "docker-archive", dest: string | Writable, descriptor: Descriptor, name: string | undefined): Promise<void>
}

/**
 * The content store an engine is built over: blobs, names and leases. Its methods are Promises
 * (they move bytes as Node streams); the engine's Effect programs call them as leaves. Live:
 * `CasImageStore`, @cairn/cas over the root (the root is the OCI layout).
 */
export class ContentStore extends Context.Service<ContentStore, ImageStore>()("@cairn/engine/ContentStore") {}

/** an archive's bytes as they arrive */
export type ArchiveInput = Readable | AsyncIterable<Uint8Array>

/**
 * An image without a name is kept in index.json under this reserved ref.name (which no local
 * name can take: names have no "@"), so it can be listed, found by digest and removed again
 * like any tagged entry.
 */
export const DANGLING_PREFIX = "cairn.dangling@"
const danglingName = (digest: Digest) => `${DANGLING_PREFIX}${digest}`

/** The image store over @cairn/cas: the engine root is the OCI layout itself. */
export class CasImageStore implements ImageStore {
  constructor(readonly cas: Store) {}

  get root() {
    return this.cas.root
  }

  async images(): Promise<Array<StoredImage>> {
    const byDigest = new Map<string, { descriptor: Descriptor; names: Array<string> }>()
    for (const d of await this.cas.index()) {
      const name = d.annotations?.[REF_NAME]
      const entry = byDigest.get(d.digest) ?? { descriptor: d, names: [] }
      if (name !== undefined && !name.startsWith(DANGLING_PREFIX) && !entry.names.includes(name)) entry.names.push(name)
      byDigest.set(d.digest, entry)
    }
    return [...byDigest.values()]
  }
  read(digest: Digest) {
    return this.cas.read(digest)
  }
  open(digest: Digest) {
    return this.cas.get(digest)
  }
  async blobFile(digest: Digest) {
    return (await this.cas.stat(digest)) === undefined ? undefined : this.cas.layout.blobPath(digest)
  }
  stat(digest: Digest) {
    return this.cas.stat(digest)
  }
  async put(desc: { digest: Digest; size: number; mediaType?: string }, data: Uint8Array | AsyncIterable<Uint8Array>, lease?: string) {
    await this.cas.put(desc, data, lease === undefined ? {} : { lease })
  }
  async tag(name: string, descriptor: Descriptor) {
    await this.cas.tag(name, plain(descriptor))
    // the image has a name now: its dangling entry (if any) goes
    await this.cas.untag(danglingName(descriptor.digest))
  }
  untag(name: string) {
    return this.cas.untag(name)
  }
  async addUntagged(descriptor: Descriptor) {
    const named = (await this.cas.index()).some((d) => d.digest === descriptor.digest && d.annotations?.[REF_NAME] !== undefined)
    if (!named) await this.cas.tag(danglingName(descriptor.digest), plain(descriptor))
  }
  async removeManifest(digest: Digest) {
    for (const d of await this.cas.index()) {
      const name = d.annotations?.[REF_NAME]
      if (d.digest === digest && name !== undefined) await this.cas.untag(name)
    }
  }
  sink(lease?: string): BlobSink {
    const o = lease === undefined ? {} : { lease }
    return {
      has: (d) => this.cas.has(d),
      put: (desc, data) => this.cas.put(desc, data, o),
      ingestOffset: (d) => this.cas.ingestOffset(d),
      resume: (desc, offset, data) => this.cas.resume(desc, offset, data, o),
      // the store's ingest gives back each lent chunk once written: a download may lend them
      acceptsLent: true
    }
  }
  source(): BlobSource {
    return { stat: (d) => this.cas.stat(d), open: (d) => this.cas.open(d) }
  }
  importArchive(input: string | ArchiveInput, lease?: string, signal?: AbortSignal, label?: string) {
    const name = label ?? (typeof input === "string" ? input : "<stream>")
    // a signal stops cas reading the bytes: it then stores nothing of them
    const common = signal === undefined ? { name } : { name, signal }
    return this.cas.importArchive(input, lease === undefined ? common : { ...common, tag: false as const, lease })
  }
  async exportImage(kind: "oci" | "oci-archive" | "docker-archive", dest: string | Writable, descriptor: Descriptor, name: string | undefined) {
    const clean = plain(descriptor)
    if (kind === "oci") {
      if (typeof dest !== "string") throw new TypeError("an OCI layout is a directory, not a stream")
      await this.cas.copyTo(await Store.open(dest), [name === undefined ? { descriptor: clean } : { descriptor: clean, tag: name }])
    } else if (kind === "oci-archive") {
      await this.cas.exportOciArchive([{ descriptor: clean, names: name === undefined ? [] : [name] }], dest)
    } else {
      await this.cas.exportDockerArchive([{ descriptor: clean, names: name === undefined ? [] : [name] }], dest)
    }
  }
  gc(options: GcOptions) {
    return this.cas.gc(options)
  }
  fsck(options: FsckOptions) {
    return this.cas.fsck(options)
  }
  ingests() {
    return this.cas.ingests()
  }
  withLease<T>(f: (lease: string) => Promise<T>): Promise<T> {
    return this.cas.withLease((l) => f(l.id))
  }
}

/** A descriptor without its ref.name (names are set by tag). */
const plain = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size })
