import { Worker } from "node:worker_threads"
import { type Algorithm, type Digest, formatDigest } from "./digest.js"
import { defaultBackend, type HasherBackend } from "./hasher.js"

/** The ring of bytes shared with the worker: bounds memory exactly, keeps both threads busy. */
const RING = 4 * 1024 * 1024
/** Largest piece handed over at once, so the producer never waits for a whole ring to drain. */
const PIECE = 1024 * 1024

/**
 * Streams at least this big are worth a worker: below it the worker's start (tens of ms, a
 * fresh WASM instance) costs more than hashing on the calling thread.
 */
export const OFF_THREAD_MIN_BYTES = 16 * 1024 * 1024

/**
 * One digest computed on its own worker thread, so hashing (the WASM core by default) runs on
 * another core beside decompression, network reads and file writes (DESIGN.md, "The hot path"),
 * and several streams hash at once instead of taking turns on the main thread. Chunks are copied
 * into a fixed SharedArrayBuffer ring and the worker hashes them in place; `update` waits only
 * when the ring is full. No allocation per chunk: memory stays flat whatever the stream size.
 * Messages are answered in order, so `digest` and `save` see every byte given before them.
 */
export class OffThreadHasher {
  /** bytes given to update() so far */
  bytes: number
  /** bytes written into the ring / bytes the worker has hashed, since the start */
  private head = 0
  private tail = 0
  private waiting: Array<() => void> = []
  private failure: Error | undefined
  private replies: Array<{ resolve: (m: Reply) => void; reject: (e: Error) => void }> = []

  private constructor(
    readonly algorithm: Algorithm,
    private readonly worker: Worker,
    private readonly ring: Uint8Array,
    bytes: number
  ) {
    this.bytes = bytes
    worker.on("message", (m: Reply) => {
      if (m.type === "ack") {
        this.tail += m.bytes
        this.wake()
      } else this.replies.shift()?.resolve(m)
    })
    worker.on("error", (e) => this.fail(e))
    worker.on("exit", (code) => this.fail(new Error(`the hash worker exited (code ${code})`)))
  }

  /**
   * Starts a worker for `algorithm` on `backend` (default: the WASM core). `resume` continues
   * a WASM hash from a state saved after `bytes` bytes (see Hasher.save, resumeHasher).
   */
  static async start(
    algorithm: Algorithm,
    backend: HasherBackend = defaultBackend,
    resume?: { readonly state: Uint8Array; readonly bytes: number }
  ): Promise<OffThreadHasher> {
    if (resume !== undefined && backend.name !== "wasm") throw new Error("only the WASM backend can resume a saved hash state")
    const ring = new SharedArrayBuffer(RING)
    const worker = new Worker(new URL("../worker/hash-worker.mjs", import.meta.url), {
      workerData: { algorithm, backend: backend.name, ring, state: resume?.state },
      // a fresh loader: the worker must not inherit the parent's loaders or flags
      execArgv: []
    })
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve())
      worker.once("error", reject)
    })
    return new OffThreadHasher(algorithm, worker, new Uint8Array(ring), resume?.bytes ?? 0)
  }

  private wake() {
    const ws = this.waiting
    this.waiting = []
    for (const w of ws) w()
  }

  private fail(e: Error) {
    if (this.failure !== undefined) return
    this.failure = e
    this.wake()
    for (const r of this.replies.splice(0)) r.reject(e)
  }

  /** Hands `chunk` to the worker; resolves once it is copied into the ring (the caller may reuse it). */
  async update(chunk: Uint8Array): Promise<void> {
    for (let off = 0; off < chunk.byteLength; ) {
      if (this.failure) throw this.failure
      // a piece never crosses the end of the ring, so the worker always reads one contiguous view
      const n = Math.min(chunk.byteLength - off, PIECE, RING - (this.head % RING))
      while (this.head + n - this.tail > RING && !this.failure) await new Promise<void>((r) => this.waiting.push(r))
      if (this.failure) throw this.failure
      const at = this.head % RING
      this.ring.set(chunk.subarray(off, off + n), at)
      this.head += n
      this.bytes += n
      this.worker.postMessage({ type: "chunk", at, length: n })
      off += n
    }
  }

  private ask(type: "digest" | "save"): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure)
    const p = new Promise<Reply>((resolve, reject) => this.replies.push({ resolve, reject }))
    this.worker.postMessage({ type })
    return p
  }

  /** The digest of everything given to update(); update must not be called afterwards. */
  async digest(): Promise<Digest> {
    const m = await this.ask("digest")
    return formatDigest(this.algorithm, (m as { hex: string }).hex)
  }

  /** The hash state after every byte given so far (WASM backend; undefined on node:crypto). */
  async save(): Promise<Uint8Array | undefined> {
    const m = await this.ask("save")
    return (m as { state?: Uint8Array }).state
  }

  async close(): Promise<void> {
    this.failure ??= new Error("the hash worker was closed")
    await this.worker.terminate()
  }
}

type Reply = { type: "ack"; bytes: number } | { type: "digest"; hex: string } | { type: "state"; state?: Uint8Array }
