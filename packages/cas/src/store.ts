// The Promise facade: one object per layout directory, over the same functions the Effect
// service (contentStore.ts) uses.
import type { Readable, Writable } from "node:stream"
import type { Digest } from "@cairn/digest"
import type { Descriptor } from "@cairn/oci-spec/lazy"
import {
  type BlobDescriptorLike,
  type BlobInfo,
  type BlobInput,
  BlobStore,
  type Expected,
  type GetOptions,
  type PutResult,
  type StagedBlob
} from "./blobStore.js"
// archives (and tar-stream) load when one is read or written, not with every store
import type { ExportImage } from "./archiveExport.js"
import type { ImportOptions, ImportReport } from "./archiveImport.js"
import { type CopyReport, type CopyRoot, copyGraph } from "./copy.js"
import { type FsckOptions, type FsckReport, fsck } from "./fsck.js"
import { collectGarbage, type GcOptions, type GcReport } from "./gc.js"
import { type WalkOptions, type WalkResult, walkGraph } from "./graph.js"
import { checkIndex, readIndex } from "./indexFile.js"
import { type Layout, type OpenOptions, openLayout } from "./layout.js"
import { addToLease, createLease, type Lease, type LeaseOptions, listLeases, releaseLease, renewLease } from "./leases.js"
import { addRoot, listTags, resolveTag, type TagEntry, type TagTarget, tag, untag } from "./tags.js"

export class Store {
  /** the byte-level store (reader / ingester / manager) */
  readonly blobs: BlobStore
  /**
   * As a blob sink: put and resume give back each lent chunk (@cairn/digest `lend`) once it is
   * hashed and written, and hold none after, so a download may read into pooled memory for them.
   */
  readonly acceptsLent = true

  private constructor(readonly layout: Layout) {
    this.blobs = new BlobStore(layout)
  }

  /** Open an OCI image layout, creating it when the directory is missing or empty. */
  static async open(dir: string, options: OpenOptions = {}): Promise<Store> {
    const layout = await openLayout(dir, options)
    const store = new Store(layout)
    await checkIndex(layout) // a missing, truncated or malformed index.json fails here, naming the file
    return store
  }

  get root(): string {
    return this.layout.root
  }

  // ---- blobs (BlobSink + BlobSource) -----------------------------------------------------
  put(desc: BlobDescriptorLike, data: BlobInput, options?: { lease?: string }): Promise<PutResult>
  put(data: BlobInput, expected?: Expected): Promise<PutResult>
  put(a: BlobDescriptorLike | BlobInput, b?: BlobInput | Expected, c?: { lease?: string }): Promise<PutResult> {
    return (this.blobs.put as (a: unknown, b?: unknown, c?: unknown) => Promise<PutResult>)(a, b, c)
  }
  stage(data: BlobInput, expected?: Expected): Promise<StagedBlob> {
    return this.blobs.stage(data, expected)
  }
  ingestOffset(digest: Digest | string): Promise<number> {
    return this.blobs.ingestOffset(digest)
  }
  resume(desc: BlobDescriptorLike, offset: number, data: BlobInput, options?: { lease?: string; onWait?: (holder: string) => void; stallMs?: number }): Promise<PutResult> {
    return this.blobs.resume(desc, offset, data, options)
  }
  get(digest: Digest | string, options?: GetOptions): Promise<Readable> {
    return this.blobs.get(digest, options)
  }
  open(digest: Digest): Promise<AsyncIterable<Uint8Array>> {
    return this.blobs.open(digest)
  }
  read(digest: Digest | string, maxBytes?: number): Promise<Uint8Array> {
    return this.blobs.read(digest, maxBytes)
  }
  stat(digest: Digest | string): Promise<{ size: number } | undefined> {
    return this.blobs.stat(digest)
  }
  has(digest: Digest | string): Promise<boolean> {
    return this.blobs.has(digest)
  }
  delete(digest: Digest | string): Promise<boolean> {
    return this.blobs.delete(digest)
  }
  list(): AsyncGenerator<BlobInfo> {
    return this.blobs.list()
  }

  // ---- tags ------------------------------------------------------------------------------
  tag(name: string, target: TagTarget): Promise<Descriptor> {
    return tag(this.blobs, name, target)
  }
  untag(name: string): Promise<boolean> {
    return untag(this.blobs, name)
  }
  resolve(name: string): Promise<Descriptor> {
    return resolveTag(this.blobs, name)
  }
  tags(): Promise<TagEntry[]> {
    return listTags(this.blobs)
  }
  addRoot(descriptor: Descriptor): Promise<void> {
    return addRoot(this.blobs, descriptor)
  }
  async index(): Promise<readonly Descriptor[]> {
    return (await readIndex(this.layout)).manifests
  }

  // ---- graph, leases, gc, fsck -----------------------------------------------------------
  walk(roots: readonly Descriptor[], options?: WalkOptions): Promise<WalkResult> {
    return walkGraph(this.blobs, roots, options)
  }
  createLease(options?: LeaseOptions): Promise<Lease> {
    return this.blobs.withGcLock(() => createLease(this.layout, options))
  }
  addToLease(id: string, digests: readonly (Digest | string)[]): Promise<Lease> {
    return this.blobs.withGcLock(() => addToLease(this.layout, id, digests))
  }
  renewLease(id: string, ttlMs: number): Promise<Lease> {
    return this.blobs.withGcLock(() => renewLease(this.layout, id, ttlMs))
  }
  releaseLease(id: string): Promise<boolean> {
    return this.blobs.withGcLock(() => releaseLease(this.layout, id))
  }
  async leases(): Promise<Lease[]> {
    return (await listLeases(this.layout)).live
  }
  /** Run `f` with a fresh lease protecting what it stores; released however `f` ends. */
  async withLease<T>(f: (lease: Lease) => Promise<T>, options?: LeaseOptions): Promise<T> {
    const lease = await this.createLease(options)
    try {
      return await f(lease)
    } finally {
      await this.releaseLease(lease.id)
    }
  }
  gc(options?: GcOptions): Promise<GcReport> {
    return collectGarbage(this.blobs, options)
  }
  fsck(options?: FsckOptions): Promise<FsckReport> {
    return fsck(this.blobs, options)
  }
  /** Partial ingests in the ingest area (`active` while a live writer holds them), for df. */
  ingests(): Promise<Array<{ digest?: Digest; path: string; size: number; mtimeMs: number; active: boolean }>> {
    return this.blobs.listIngests()
  }

  // ---- copy, import, export ------------------------------------------------------------

  /** Copy images (tag names, or descriptors with an optional tag) into another layout; only missing blobs move. */
  async copyTo(target: Store, refs: readonly (string | CopyRoot)[]): Promise<CopyReport> {
    const roots: CopyRoot[] = []
    for (const r of refs) roots.push(typeof r === "string" ? { descriptor: await this.resolve(r), tag: r } : r)
    return copyGraph(this.blobs, target.blobs, roots)
  }

  /** Write the named images as a new (or existing) OCI layout directory. */
  async exportLayout(dir: string, names: readonly string[]): Promise<CopyReport> {
    return this.copyTo(await Store.open(dir), names)
  }

  /**
   * Import a `docker save` tarball (classic or OCI-embedding) or an oci-archive, from a path or a
   * stream; its images are tagged, or with `{ tag: false, lease }` only held by that lease.
   */
  async importArchive(input: string | AsyncIterable<Uint8Array> | Readable, options?: ImportOptions): Promise<ImportReport> {
    // a stream that fails while the importer loads keeps its error for the read that follows
    if (typeof input === "object" && typeof (input as { on?: unknown }).on === "function") (input as NodeJS.EventEmitter).on("error", () => {})
    return (await import("./archiveImport.js")).importArchive(this.blobs, input, options)
  }

  /** Tag names, or descriptors with the names to give them in the archive. */
  private async exportImages(refs: readonly (string | ExportImage)[], repoTags: boolean): Promise<ExportImage[]> {
    const out: ExportImage[] = []
    for (const r of refs) {
      if (typeof r !== "string") out.push(r)
      else out.push({ descriptor: await this.resolve(r), names: repoTags ? dockerRepoTags(r) : [r] })
    }
    return out
  }

  /** An oci-archive tar (`skopeo copy oci-archive:FILE:TAG`), written to a path atomically or into a stream. */
  async exportOciArchive(refs: readonly (string | ExportImage)[], out: string | Writable): Promise<void> {
    return (await import("./archiveExport.js")).exportOciArchive(this.blobs, await this.exportImages(refs, false), out)
  }

  /** A docker-archive tar (`docker load`, `skopeo copy docker-archive:FILE`); gzip layers are written uncompressed. */
  async exportDockerArchive(refs: readonly (string | ExportImage)[], out: string | Writable): Promise<void> {
    return (await import("./archiveExport.js")).exportDockerArchive(this.blobs, await this.exportImages(refs, true), out)
  }
}

// a docker reference with a tag: lowercase path components, optional registry host:port, ":tag"
const dockerRef = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[\w][\w.-]{0,127}$/

/** RepoTags for a tag name: itself when it reads as a docker "repo:tag", else none. */
function dockerRepoTags(name: string): string[] {
  return dockerRef.test(name) ? [name] : []
}
