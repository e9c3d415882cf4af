// Writing a blob's bytes into the ingest area while hashing them: the input as chunks, the
// overlapped positional writes with periodic fdatasync, and which failures were our own writes'.
import { constants } from "node:fs"
import { type FileHandle, open, unlink } from "node:fs/promises"
import { type Digest, DigestMismatchError, giveBack, type Hasher, type OffThreadHasher, SizeMismatchError } from "@cairn/digest"
import { writeFileAtomic } from "./atomicFile.js"
import type { StagedBlob } from "./blobTypes.js"
import type { LockHandle } from "./lockFile.js"

/** Bytes for put: a buffer, a string (UTF-8), or a stream of chunks (a Node Readable is fine). */
export type BlobInput = Uint8Array | string | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>

export const CHUNK = 1 << 20


/** `chunks` without its first `n` bytes. */
export async function* skipBytes(chunks: AsyncIterable<Uint8Array>, n: number): AsyncGenerator<Uint8Array> {
  let left = n
  for await (const c of chunks) {
    if (left >= c.length) {
      left -= c.length
      continue
    }
    yield left > 0 ? c.subarray(left) : c
    left = 0
  }
}

export async function* chunksOf(input: BlobInput): AsyncGenerator<Uint8Array> {
  if (typeof input === "string") input = Buffer.from(input, "utf8")
  if (input instanceof Uint8Array) {
    for (let o = 0; o < input.length; o += CHUNK) yield input.subarray(o, Math.min(o + CHUNK, input.length))
    if (input.length === 0) return
    return
  }
  for await (const c of input as AsyncIterable<Uint8Array | string>) yield typeof c === "string" ? Buffer.from(c, "utf8") : c
}

/** A hasher on the calling thread, or on a worker for big blobs: the ingest path awaits either. */
export type IngestHasher = Hasher | OffThreadHasher

const SYNC_EVERY = 64 << 20
const WRITES_IN_FLIGHT = 4
/** chunks are gathered into one positional writev of at least this many bytes */
const WRITE_BATCH = 1 << 20
/** ...or written this soon after the first of them arrived, so a slow source's partial grows on disk */
const BATCH_WAIT_MS = 20

/**
 * Write `source` to `fh` from `position` on while hashing it. Chunks are hashed as they come and
 * gathered into one positional writev per MiB (or per 20 ms, for a source that pauses): a network
 * body arrives in pieces of 16-64 KiB, and one thread-pool write each kept the pulling thread busy
 * (15,000 writes for a 945 MB pull). Up to four writes are in flight while the next chunks are
 * hashed, so the hashing thread rarely waits for the thread pool (a chunk must therefore not be
 * modified once yielded: the Node stream contract), and a background fdatasync every 64 MiB keeps
 * writeback going alongside, so the final fsync of a large blob has little left to flush and dirty
 * pages stay bounded. Every hashed byte is written before this returns or throws, so a kept
 * partial matches its hash state.
 */
export async function writeHashed(
  fh: FileHandle,
  position: number,
  source: AsyncIterable<Uint8Array>,
  hasher: IngestHasher,
  limit: number | undefined
): Promise<void> {
  const inFlight: Promise<unknown>[] = []
  let syncing: Promise<unknown> | undefined
  let sinceSync = 0
  let pos = position
  let batch: Uint8Array[] = []
  let batchBytes = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let sourceError: { error: unknown } | undefined
  let syncFailure: { error: unknown } | undefined
  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    if (batchBytes === 0) return
    const chunks = batch
    const write = chunks.length === 1 ? writeFully(fh, chunks[0]!, pos) : writevFully(fh, chunks, pos)
    // observed at once: a write that fails (ENOSPC) behind others still in flight is reported in
    // its turn below, not as an unhandled rejection that ends the process. Hashed and written
    // (or failed), the chunks are done with: lent ones (a bulk download's) go back for reuse.
    write.then(
      () => giveBackAll(chunks),
      () => giveBackAll(chunks)
    )
    inFlight.push(write)
    pos += batchBytes
    sinceSync += batchBytes
    batch = []
    batchBytes = 0
  }
  try {
    for await (const chunk of source) {
      if (chunk.length === 0) continue
      if (limit !== undefined && hasher.bytes + chunk.length > limit) {
        throw new SizeMismatchError({ expected: limit, actual: hasher.bytes + chunk.length, early: true })
      }
      const handed = hasher.update(chunk)
      if (handed !== undefined) await handed
      batch.push(chunk)
      batchBytes += chunk.length
      if (batchBytes < WRITE_BATCH && batch.length < 256) {
        // a source that pauses (a slow network, another process watching the partial) still
        // sees its bytes land: what waits in the batch is written once the source stops briefly
        timer ??= setTimeout(flush, BATCH_WAIT_MS).unref()
        continue
      }
      if (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift()
      flush()
      if (sinceSync >= SYNC_EVERY && syncing === undefined) {
        sinceSync = 0
        // a failed sync is kept for the end: a later fsync of this file may not report it again
        syncing = fh
          .datasync()
          .catch((e) => {
            syncFailure ??= { error: e }
          })
          .finally(() => {
            syncing = undefined
          })
      }
    }
  } catch (error) {
    sourceError = { error }
  }
  // every hashed byte is on its way to disk: wait for all of it before reporting either outcome
  flush()
  const results = await Promise.allSettled(inFlight)
  await syncing
  const failed = results.find((r) => r.status === "rejected")
  if (failed) throw failed.reason
  if (syncFailure) {
    const e = syncFailure.error
    if (typeof e === "object" && e !== null) writeFailures.add(e)
    throw e
  }
  if (sourceError) throw sourceError.error
}

const giveBackAll = (chunks: readonly Uint8Array[]) => {
  for (const c of chunks) giveBack(c)
}

/** Failures of our own writes, as opposed to the source's: the partial bytes are then not trusted. */
const writeFailures = new WeakSet<object>()

/** Whether `e` came from one of our own writes (the partial bytes are then not trusted), not from the source. */
export const isOwnWriteFailure = (e: unknown): boolean => typeof e === "object" && e !== null && writeFailures.has(e)

/** pwrite until the whole chunk is down (a short write is legal). */
async function writeFully(fh: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  let done = 0
  try {
    while (done < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, position + done)
      done += bytesWritten
    }
  } catch (e) {
    if (typeof e === "object" && e !== null) writeFailures.add(e)
    throw e
  }
}

/** pwritev until every chunk is down; after a short write the rest goes chunk by chunk. */
async function writevFully(fh: FileHandle, chunks: Uint8Array[], position: number): Promise<void> {
  let written: number
  try {
    written = (await fh.writev(chunks, position)).bytesWritten
  } catch (e) {
    if (typeof e === "object" && e !== null) writeFailures.add(e)
    throw e
  }
  let skip = written
  for (const c of chunks) {
    if (skip < c.length) await writeFully(fh, skip > 0 ? c.subarray(skip) : c, position + skip)
    position += c.length
    skip = Math.max(0, skip - c.length)
  }
}

/** One ingest: where the bytes go, what they must be, and how verified bytes are made visible. */
export interface IngestFile {
  readonly path: string
  /** bytes already in the file (a resume) */
  readonly offset: number
  readonly hasher: IngestHasher
  readonly source: AsyncIterable<Uint8Array>
  readonly want: Digest | undefined
  readonly size: number | undefined
  /** held when the file is the digest's own ingest key (resumable); released when done */
  readonly lock: LockHandle | undefined
  /** keep a keyed partial (with its hash state) when the bytes stop early */
  readonly resumable: boolean
  /** link the verified file in under its digest; false when it was there already */
  readonly commit: (tmp: string, digest: Digest, lease: string | undefined) => Promise<boolean>
}

/**
 * Writes `source` into the ingest file, hashing it on the way, and checks size and digest: the
 * result is a staged blob to commit or discard. Bad bytes are removed; a keyed partial whose
 * bytes merely stopped is kept, durable and with its hash state, for resume().
 */
export async function ingestFile(o: IngestFile): Promise<StagedBlob> {
  const { path, offset, hasher, source, want, size, lock, resumable, commit } = o
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
          const created = await commit(path, digest, options.lease)
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
