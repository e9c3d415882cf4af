/**
 * File-writer threads. A layer of many small files is bound by the kernel's work per created file
 * (open, write, futimes, close: system time, not hashing). That work runs on whichever thread asks
 * for it, so creating files from two threads uses both cores where one thread (and GNU tar) uses
 * one. The applier keeps every ordering decision: it sends a thread only regular files it could
 * create with their final owner and mode, and drains all threads before any entry that could
 * interact with a file still in flight (see LayerApplier.mustDrain).
 *
 * Files are packed into batches (one ArrayBuffer moved, not copied, per postMessage); a parent
 * directory always goes to the same thread, so two threads never contend on one directory's lock.
 */
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"

/** A file a writer thread could not create, with what is needed to create it on the applying thread. */
export interface WriteFailure {
  readonly path: Buffer
  readonly mode: number
  readonly atime: number
  readonly mtime: number
  readonly data: Buffer
  /** errno code ("" when none) and message */
  readonly code: string
  readonly message: string
}

/** A batch is sent when it holds this many bytes or files; the applier waits once MAX_IN_FLIGHT bytes are in flight. */
const BATCH_BYTES = 256 * 1024
const BATCH_FILES = 128
const MAX_IN_FLIGHT = 4 * 1024 * 1024
const HEADER = 28 // u32 path length + u32 mode + f64 atime + f64 mtime + u32 data length (beside the path)

/** Default number of writer threads: the cores, at most 2 (beyond that the kernel's own locks dominate). */
export const defaultWriterThreads = (): number => {
  const env = process.env.CAIRN_WRITER_THREADS
  if (env !== undefined && /^\d+$/.test(env)) return Number(env)
  return Math.min(2, availableParallelism())
}

interface Lane {
  readonly worker: Worker
  /** the batch being filled: records are written straight into it, and its memory is moved to the thread */
  buf: Buffer
  bytes: number
  files: number
}

export class FileWriterPool {
  private readonly lanes: Lane[]
  /** batch id -> its size, until its thread answers */
  private readonly inFlightBatches = new Map<number, number>()
  private readonly failures: Array<{ id: number; failures: WriteFailure[] }> = []
  /** keys of files sent but not yet known to be written */
  private readonly pending = new Set<string>()
  private waiters: Array<{ limit: number; resolve: () => void; reject: (e: Error) => void }> = []
  /** batch buffers the threads gave back, to be filled again (no fresh mapping, no page faults per batch) */
  private readonly spare: Buffer[] = []
  private lastParent: string | undefined
  private lastLane: Lane | undefined
  private nextId = 0
  private inFlight = 0
  private broken: Error | undefined

  constructor(threads: number) {
    this.lanes = Array.from({ length: threads }, () => {
      // a writer allocates almost nothing of its own: a small heap keeps its memory small
      const worker = new Worker(new URL("../worker/file-writer.mjs", import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 } })
      worker.on("message", (m: Reply) => this.done(m))
      worker.on("error", (e) => this.fail(e))
      worker.on("exit", (code) => {
        if (code !== 0) this.fail(new Error(`a file-writer thread exited with code ${code}`))
      })
      return { worker, buf: Buffer.allocUnsafeSlow(BATCH_BYTES), bytes: 0, files: 0 }
    })
  }

  /** Whether a file with this key was sent and may not exist yet. */
  isPending(key: string): boolean {
    return this.pending.has(key)
  }

  /** Files sent since the last drain. */
  get size(): number {
    return this.pending.size
  }

  /** Queues one file; `parentKey` picks the thread. Returns a promise only when too much is in flight. */
  write(key: string, parentKey: string, path: Buffer, mode: number, atime: number, mtime: number, data: Buffer): Promise<void> | undefined {
    if (this.broken) throw this.broken
    // files come directory by directory: the last directory's lane is the likely one
    if (parentKey !== this.lastParent) {
      this.lastParent = parentKey
      this.lastLane = this.lanes[hash(parentKey) % this.lanes.length]!
    }
    const lane = this.lastLane!
    const need = HEADER + path.length + data.length
    if (lane.bytes + need > lane.buf.length) {
      if (lane.files > 0) this.send(lane)
      if (need > lane.buf.length) lane.buf = Buffer.allocUnsafeSlow(need)
    }
    const b = lane.buf
    let o = lane.bytes
    o = b.writeUInt32LE(path.length, o)
    o += path.copy(b, o)
    o = b.writeUInt32LE(mode, o)
    o = b.writeDoubleLE(atime, o)
    o = b.writeDoubleLE(mtime, o)
    o = b.writeUInt32LE(data.length, o)
    o += data.copy(b, o)
    lane.bytes = o
    lane.files++
    this.pending.add(key)
    if (lane.files >= BATCH_FILES) this.send(lane)
    return this.inFlight > MAX_IN_FLIGHT ? this.settle(MAX_IN_FLIGHT / 2) : undefined
  }

  /**
   * Sends what is queued and waits for every thread; returns the files that could not be created,
   * in the order they were queued, for the applier to create itself (or to report).
   */
  async drain(): Promise<WriteFailure[]> {
    for (const lane of this.lanes) if (lane.files > 0) this.send(lane)
    await this.settle(0)
    this.pending.clear()
    const out = this.failures.sort((a, b) => a.id - b.id).flatMap((f) => f.failures)
    this.failures.length = 0
    return out
  }

  /** Stops the threads (after a failure too): nothing is written once this resolves. */
  async close(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.worker.terminate()))
  }

  private send(lane: Lane) {
    const id = this.nextId++
    const size = lane.bytes
    // allocUnsafeSlow gives each batch an ArrayBuffer of its own (not the shared pool): moved whole
    const ab = lane.buf.buffer as ArrayBuffer
    this.inFlightBatches.set(id, size)
    this.inFlight += size
    lane.worker.postMessage({ id, batch: ab, offset: lane.buf.byteOffset, size }, [ab])
    lane.buf = this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES)
    lane.bytes = 0
    lane.files = 0
  }

  private done(m: Reply) {
    if (m.batch.byteLength === BATCH_BYTES && this.spare.length < this.lanes.length * 2) this.spare.push(Buffer.from(m.batch))
    const size = this.inFlightBatches.get(m.id)
    if (size === undefined) return
    this.inFlightBatches.delete(m.id)
    this.inFlight -= size
    if (m.failures.length > 0) this.failures.push({ id: m.id, failures: m.failures.map(decodeFailure) })
    this.wake()
  }

  private fail(e: Error) {
    this.broken ??= e
    this.wake()
  }

  private settled(limit: number) {
    return limit > 0 ? this.inFlight <= limit : this.inFlightBatches.size === 0
  }

  private settle(limit: number): Promise<void> {
    if (this.broken) return Promise.reject(this.broken)
    if (this.settled(limit)) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiters.push({ limit, resolve, reject }))
  }

  private wake() {
    const keep: typeof this.waiters = []
    for (const w of this.waiters) {
      if (this.broken) w.reject(this.broken)
      else if (this.settled(w.limit)) w.resolve()
      else keep.push(w)
    }
    this.waiters = keep
  }
}

/** A thread's answer: the batch's memory back, and the files it could not create (copies of their records). */
interface Reply {
  readonly id: number
  readonly batch: ArrayBuffer
  readonly failures: Array<{ code: string; message: string; record: Uint8Array }>
}

function decodeFailure(f: { code: string; message: string; record: Uint8Array }): WriteFailure {
  const b = Buffer.from(f.record.buffer, f.record.byteOffset, f.record.byteLength)
  const pathLen = b.readUInt32LE(0)
  const o = 4 + pathLen
  const dataLen = b.readUInt32LE(o + 20)
  return {
    path: b.subarray(4, o),
    mode: b.readUInt32LE(o),
    atime: b.readDoubleLE(o + 4),
    mtime: b.readDoubleLE(o + 12),
    data: b.subarray(o + 24, o + 24 + dataLen),
    code: f.code,
    message: f.message
  }
}

/** FNV-1a of a string: which thread a directory's files go to. */
function hash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}
