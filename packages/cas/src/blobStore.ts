// The byte-level store: blobs/<alg>/<hex> plus the ingest area. It knows nothing of manifests
// (umoci's cas vs casext split; containerd's reader / ingester / manager interfaces).
import { constants, type ReadStream } from "node:fs"
import { link, open, readdir, readFile, stat, unlink } from "node:fs/promises"
import { join } from "node:path"
import { pipeline, type Readable } from "node:stream"
import {
  createHasher,
  type Digest,
  digestAlgorithm,
  digestHex,
  formatDigest,
  OFF_THREAD_MIN_BYTES,
  OffThreadHasher,
  parseDigest,
  SizeMismatchError,
  verifyingStream
} from "@cairn/digest"
import { fsyncDir, tempNameFor } from "./atomicFile.js"
import { BlobNotFoundError, IngestOffsetError } from "./errors.js"
import type { Layout } from "./layout.js"
import { addToLease } from "./leases.js"
import { activeIngests, cleanDebris, listIngests, staleIngests } from "./ingestArea.js"
import { rebuildHasher, waitForIngestLock } from "./ingestResume.js"
import { type BlobInput, CHUNK, chunksOf, type IngestHasher, ingestFile, skipBytes } from "./ingestWrite.js"
import { type LockHandle, tryLock, withLock } from "./lockFile.js"
import { type BlobDescriptorLike, type BlobInfo, type Expected, type GetOptions, isDescriptorLike, type PutResult, type StagedBlob } from "./blobTypes.js"

export type { BlobInput } from "./ingestWrite.js"
export type { BlobDescriptorLike, BlobInfo, Expected, GetOptions, PutResult, StagedBlob } from "./blobTypes.js"

/** How long resume() waits on another process's ingest of the same digest that makes no progress. */
export const INGEST_STALL_MS = 60_000

/** Reader, ingester and manager of the blobs in one layout. */
export class BlobStore {
  constructor(readonly layout: Layout) {}

  // ---- reader ----------------------------------------------------------------------------

  async stat(digest: Digest | string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.layout.blobPath(digest))
      return s.isFile() ? { size: s.size } : undefined
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
      throw e
    }
  }

  async has(digest: Digest | string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined
  }

  /** A stream of the blob's bytes; BlobNotFoundError when absent. */
  async get(digest: Digest | string, options: GetOptions = {}): Promise<Readable> {
    const d = parseDigest(digest)
    let fh: import("node:fs/promises").FileHandle
    try {
      fh = await open(this.layout.blobPath(d), constants.O_RDONLY)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new BlobNotFoundError({ digest: d, chain: [] })
      throw e
    }
    const rs: ReadStream = fh.createReadStream({ highWaterMark: CHUNK })
    if (!options.verify) return rs
    const size = (await fh.stat()).size
    const verifier = await verifyingStream({ digest: d, size })
    pipeline(rs, verifier, () => {})
    return verifier
  }

  /** BlobSource.open: the blob as a byte stream. */
  open(digest: Digest): Promise<AsyncIterable<Uint8Array>> {
    return this.get(digest)
  }

  /** The whole blob in memory, refusing more than `maxBytes` (documents, not layers). */
  async read(digest: Digest | string, maxBytes = 16 << 20): Promise<Uint8Array> {
    const d = parseDigest(digest)
    const s = await this.stat(d)
    if (!s) throw new BlobNotFoundError({ digest: d, chain: [] })
    if (s.size > maxBytes) throw new SizeMismatchError({ expected: maxBytes, actual: s.size, early: true })
    try {
      return await readFile(this.layout.blobPath(d))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new BlobNotFoundError({ digest: d, chain: [] })
      throw e
    }
  }

  /** Every blob under blobs/, skipping names that are not digests (other tools' temp files). */
  async *list(): AsyncGenerator<BlobInfo> {
    let algs: string[]
    try {
      algs = await readdir(this.layout.blobsDir)
    } catch {
      return
    }
    for (const alg of algs.sort()) {
      if (alg !== "sha256" && alg !== "sha512") continue
      const dir = join(this.layout.blobsDir, alg)
      let names: string[]
      try {
        names = await readdir(dir)
      } catch {
        continue
      }
      for (const hex of names.sort()) {
        let digest: Digest
        try {
          digest = formatDigest(alg, hex)
        } catch {
          continue
        }
        try {
          const s = await stat(join(dir, hex))
          if (s.isFile()) yield { digest, size: s.size }
        } catch {
          // deleted while listing
        }
      }
    }
  }

  // ---- ingester --------------------------------------------------------------------------

  private ingestKey(d: Digest): string {
    return join(this.layout.ingestDir, `${digestAlgorithm(d)}-${digestHex(d)}`)
  }

  /**
   * Store bytes. Two call shapes: `put(data, expected?)` and the blob-transfer contract's
   * `put({ digest, size }, data)`. The blob appears under its digest only after size and digest
   * check out; an existing blob is not rewritten (and `data` is then not read).
   */
  put(desc: BlobDescriptorLike, data: BlobInput, options?: { lease?: string }): Promise<PutResult>
  put(data: BlobInput, expected?: Expected): Promise<PutResult>
  async put(a: BlobDescriptorLike | BlobInput, b?: BlobInput | Expected, c?: { lease?: string }): Promise<PutResult> {
    if (isDescriptorLike(a)) {
      return this.putExpected(b as BlobInput, { digest: a.digest, size: a.size, ...(c?.lease ? { lease: c.lease } : {}) })
    }
    return this.putExpected(a as BlobInput, (b as Expected | undefined) ?? {})
  }

  private async putExpected(data: BlobInput, expected: Expected): Promise<PutResult> {
    if (expected.digest !== undefined) {
      const d = parseDigest(expected.digest)
      const s = await this.stat(d)
      if (s && (expected.size === undefined || expected.size === s.size)) {
        if (expected.lease) await this.withGcLock(() => addToLease(this.layout, expected.lease as string, [d]))
        return { digest: d, size: s.size, created: false }
      }
    }
    const staged = await this.stage(data, expected)
    return staged.commit(expected.lease ? { lease: expected.lease } : {})
  }

  /**
   * Write and verify bytes into the ingest area without making them visible; the caller commits
   * or discards. With an expected digest the partial bytes are kept, keyed by it, when the
   * source fails, so ingestOffset/resume can continue them.
   */
  async stage(data: BlobInput, expected: Expected = {}): Promise<StagedBlob> {
    const want = expected.digest === undefined ? undefined : parseDigest(expected.digest)
    if (expected.size !== undefined && (!Number.isSafeInteger(expected.size) || expected.size < 0)) {
      throw new SizeMismatchError({ expected: expected.size, actual: 0, early: false })
    }
    const algorithm = want ? digestAlgorithm(want) : (expected.algorithm ?? "sha256")
    // a big blob hashes on a worker: beside the network and the writes, and beside other blobs'
    // hashing. The worker boots (tens of ms) while the ingest file is locked and prepared.
    const big = expected.size !== undefined && expected.size >= OFF_THREAD_MIN_BYTES
    const starting: Promise<IngestHasher> = big ? OffThreadHasher.start(algorithm) : createHasher(algorithm)
    starting.catch(() => {})
    let lock: LockHandle | undefined
    let path: string
    try {
      await this.layout.ensureDir(this.layout.ingestDir)
      if (want) {
        const key = this.ingestKey(want)
        const r = await tryLock(`${key}.lock`)
        lock = r.handle
        // a live process is writing this digest already: write our own copy; link() makes one win
        path = lock ? key : tempNameFor(join(this.layout.ingestDir, "blob"))
      } else {
        path = tempNameFor(join(this.layout.ingestDir, "blob"))
      }
    } catch (e) {
      await starting.then((h) => (h instanceof OffThreadHasher ? h.close() : undefined)).catch(() => {})
      throw e
    }
    try {
      await unlink(`${path}.hashstate`).catch(() => {})
      const hasher = await starting
      try {
        return await this.ingest(path, 0, hasher, chunksOf(data), want, expected.size, lock, expected.resumable !== false)
      } finally {
        // its digest and any saved state are taken by now: stop the worker whatever happened
        if (hasher instanceof OffThreadHasher) await hasher.close()
      }
    } catch (e) {
      await lock?.release()
      throw e
    }
  }

  /** BlobSink.ingestOffset: bytes held from an interrupted put of this digest (0 when none). */
  async ingestOffset(digest: Digest | string): Promise<number> {
    const d = parseDigest(digest)
    try {
      return (await stat(this.ingestKey(d))).size
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0
      throw e
    }
  }

  /**
   * BlobSink.resume: continue an interrupted put; `data` holds the blob from `offset` on. When
   * another live process is writing this digest (two pulls of one layer), it waits for that
   * writer while it makes progress, then finds the blob present (or continues what it left).
   */
  async resume(
    desc: BlobDescriptorLike,
    offset: number,
    data: BlobInput,
    options: { lease?: string; onWait?: (holder: string) => void; stallMs?: number } = {}
  ): Promise<PutResult> {
    const d = parseDigest(desc.digest)
    const present = async (): Promise<PutResult | undefined> => {
      const s = await this.stat(d)
      if (!s || s.size !== desc.size) return undefined
      if (options.lease) await this.withGcLock(() => addToLease(this.layout, options.lease as string, [d]))
      return { digest: d, size: s.size, created: false }
    }
    const had = await present()
    if (had) return had
    await this.layout.ensureDir(this.layout.ingestDir)
    const key = this.ingestKey(d)
    let waited = false
    const lock = await waitForIngestLock(key, d, (holder) => {
      waited = true
      options.onWait?.(holder)
    }, options.stallMs ?? INGEST_STALL_MS)
    try {
      // the other writer may have finished it meanwhile
      const done = await present()
      if (done) {
        await lock.release()
        return done
      }
      const held = await this.ingestOffset(d)
      let chunks = chunksOf(data)
      // the writer we waited for got further than the offset the caller saw: skip what it wrote
      if (waited && held > offset && held <= desc.size) chunks = skipBytes(chunks, held - offset)
      else if (held !== offset) throw new IngestOffsetError({ digest: d, expected: held, actual: offset })
      const hasher = await rebuildHasher(key, d, held)
      const staged = await this.ingest(key, held, hasher, chunks, d, desc.size, lock)
      return await staged.commit(options.lease ? { lease: options.lease } : {})
    } catch (e) {
      await lock.release()
      throw e
    }
  }

  private ingest(
    path: string,
    offset: number,
    hasher: IngestHasher,
    source: AsyncIterable<Uint8Array>,
    want: Digest | undefined,
    size: number | undefined,
    lock: LockHandle | undefined,
    resumable = true
  ): Promise<StagedBlob> {
    return ingestFile({ path, offset, hasher, source, want, size, lock, resumable, commit: (tmp, digest, lease) => this.commitFile(tmp, digest, lease) })
  }

  /** Make verified bytes visible: link(2) never replaces an existing blob, so the first writer wins. */
  private async commitFile(tmp: string, digest: Digest, lease: string | undefined): Promise<boolean> {
    const final = this.layout.blobPath(digest)
    const dir = join(this.layout.blobsDir, digestAlgorithm(digest))
    return this.withGcLock(async () => {
      if (lease) await addToLease(this.layout, lease, [digest])
      await this.layout.ensureDir(dir)
      try {
        await link(tmp, final)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") return false
        throw e
      }
      await fsyncDir(dir)
      return true
    })
  }

  // ---- manager ---------------------------------------------------------------------------

  /** Run `f` holding the gc lock, which orders commits and deletes against garbage collection. */
  async withGcLock<T>(f: () => Promise<T>): Promise<T> {
    await this.layout.ensureDir(this.layout.locksDir)
    return withLock(this.layout.gcLock, f)
  }

  /** Remove a blob; false when it was not there. Does not check references (GC does). */
  async delete(digest: Digest | string): Promise<boolean> {
    const d = parseDigest(digest)
    return this.withGcLock(() => this.deleteUnlocked(d))
  }

  /** delete() for callers already holding the gc lock. */
  async deleteUnlocked(d: Digest): Promise<boolean> {
    try {
      await unlink(this.layout.blobPath(d))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false
      throw e
    }
    await fsyncDir(join(this.layout.blobsDir, digestAlgorithm(d)))
    return true
  }

  /** Digests with an ingest being written right now by a live process. */
  activeIngests(): Promise<Set<Digest>> {
    return activeIngests(this.layout)
  }

  /** Partial ingests (resumable) with their size and age; `active` when a live writer holds them. */
  listIngests(): Promise<Array<{ digest?: Digest; path: string; size: number; mtimeMs: number; active: boolean }>> {
    return listIngests(this.layout)
  }

  /** Partial ingests held by no live writer and untouched for `maxAgeMs` (what GC reclaims, what fsck reports). */
  staleIngests(maxAgeMs: number): Promise<Array<{ digest?: Digest; path: string; size: number; mtimeMs: number }>> {
    return staleIngests(this.layout, maxAgeMs)
  }

  /** Remove temp files and locks of dead writers (never keyed partials, which resume() can use). */
  cleanDebris(): Promise<void> {
    return cleanDebris(this.layout)
  }
}
