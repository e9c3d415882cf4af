// The byte-level store: blobs/<alg>/<hex> plus the ingest area. It knows nothing of manifests
// (umoci's cas vs casext split; containerd's reader / ingester / manager interfaces).
import { constants, type ReadStream } from "node:fs"
import { link, open, readdir, readFile, stat, unlink } from "node:fs/promises"
import { join } from "node:path"
import { pipeline, type Readable } from "node:stream"
import {
  type Algorithm,
  createHasher,
  type Digest,
  DigestMismatchError,
  digestAlgorithm,
  digestHex,
  formatDigest,
  OFF_THREAD_MIN_BYTES,
  OffThreadHasher,
  parseDigest,
  SizeMismatchError,
  verifyingStream
} from "@cairn/digest"
import { fsyncDir, tempNameFor, writeFileAtomic } from "./atomicFile.js"
import { BlobNotFoundError, IngestOffsetError } from "./errors.js"
import type { Layout } from "./layout.js"
import { addToLease } from "./leases.js"
import { activeIngests, cleanDebris, listIngests, staleIngests } from "./ingestArea.js"
import { rebuildHasher, waitForIngestLock } from "./ingestResume.js"
import { type BlobInput, CHUNK, chunksOf, type IngestHasher, isOwnWriteFailure, skipBytes, writeHashed } from "./ingestWrite.js"
import { type LockHandle, tryLock, withLock } from "./lockFile.js"

export type { BlobInput } from "./ingestWrite.js"

/** What the caller announces about the bytes; each given field is checked before the blob appears. */
export interface Expected {
  readonly digest?: Digest | string
  readonly size?: number
  /** hash algorithm when no digest is given (default sha256) */
  readonly algorithm?: Algorithm
  /** add the blob to this lease before it becomes visible, so GC cannot take it before it is referenced */
  readonly lease?: string
  /**
   * Keep what arrived of a blob named by its digest when its bytes stop early, for resume()
   * (default true). false: the partial goes, as for an archive member that no resume will finish.
   */
  readonly resumable?: boolean
}

/** A descriptor as the blob-transfer contract passes it (BlobSink.put). */
export interface BlobDescriptorLike {
  readonly digest: Digest | string
  readonly size: number
  readonly mediaType?: string
}

export interface PutResult {
  readonly digest: Digest
  readonly size: number
  /** false when the blob was already there (nothing rewritten) */
  readonly created: boolean
}

export interface BlobInfo {
  readonly digest: Digest
  readonly size: number
}

/** Bytes written and verified in the ingest area, not yet visible under their digest. */
export interface StagedBlob {
  readonly digest: Digest
  readonly size: number
  readonly path: string
  commit(options?: { lease?: string }): Promise<PutResult>
  discard(): Promise<void>
}

export interface GetOptions {
  /** re-hash while streaming; the stream fails with DigestMismatchError at the end on corruption */
  readonly verify?: boolean
}

/** How long resume() waits on another process's ingest of the same digest that makes no progress. */
export const INGEST_STALL_MS = 60_000

function isDescriptorLike(x: unknown): x is BlobDescriptorLike {
  return (
    typeof x === "object" &&
    x !== null &&
    !(x instanceof Uint8Array) &&
    typeof (x as { digest?: unknown }).digest === "string" &&
    !(Symbol.asyncIterator in x) &&
    !(Symbol.iterator in x)
  )
}

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

  private async ingest(
    path: string,
    offset: number,
    hasher: IngestHasher,
    source: AsyncIterable<Uint8Array>,
    want: Digest | undefined,
    size: number | undefined,
    lock: LockHandle | undefined,
    resumable = true
  ): Promise<StagedBlob> {
    const keyed = lock !== undefined
    // positional writes: no O_APPEND (Linux pwrite ignores the position with it)
    const flags = offset === 0 ? constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC : constants.O_WRONLY
    const fh = await open(path, flags, 0o644)
    const discardFile = async () => {
      await unlink(path).catch(() => {})
      await unlink(`${path}.hashstate`).catch(() => {})
    }
    try {
      await writeHashed(fh, offset, source, hasher, size)
    } catch (e) {
      const badBytes =
        e instanceof SizeMismatchError || e instanceof DigestMismatchError || isOwnWriteFailure(e)
      if (keyed && resumable && !badBytes) {
        // keep what arrived, durable, with the hash state, for resume()
        await fh.sync().catch(() => {})
        await fh.close()
        const state = await Promise.resolve(hasher.save?.()).catch(() => undefined)
        if (state) {
          await writeFileAtomic(`${path}.hashstate`, JSON.stringify({ bytes: hasher.bytes, state: Buffer.from(state).toString("base64") })).catch(() => {})
        }
      } else {
        await fh.close()
        await discardFile()
      }
      throw e
    }
    try {
      if (size !== undefined && hasher.bytes !== size) {
        throw new SizeMismatchError({ expected: size, actual: hasher.bytes, early: false })
      }
      const actual = await hasher.digest()
      if (want !== undefined && actual !== want) {
        throw new DigestMismatchError({ expected: want, actual, bytes: hasher.bytes })
      }
      await fh.sync()
      await fh.close()
      const digest = actual
      const bytes = hasher.bytes
      let done = false
      const finish = async () => {
        if (done) return
        done = true
        await discardFile()
        await lock?.release()
      }
      return {
        digest,
        size: bytes,
        path,
        commit: async (options = {}) => {
          if (done) throw new Error("staged blob already committed or discarded")
          try {
            const created = await this.commitFile(path, digest, options.lease)
            return { digest, size: bytes, created }
          } finally {
            await finish()
          }
        },
        discard: finish
      }
    } catch (e) {
      await fh.close().catch(() => {})
      await discardFile()
      throw e
    }
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
