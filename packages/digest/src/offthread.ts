import { Worker } from "node:worker_threads"
import { RingWriter } from "../worker/ring-writer.mjs"
import { kernelModuleFor, ringMemory } from "../worker/ring-hasher.mjs"
import { type Algorithm, type Digest, formatDigest } from "./digest.js"
import { defaultBackend, type HasherBackend } from "./hasher.js"

/** The ring of bytes shared with the worker: bounds memory exactly, keeps both threads busy. */
const RING = 4 * 1024 * 1024
/** Largest piece handed over at once, so the producer never waits for a whole ring to drain. */
const PIECE = 1024 * 1024
/**
 * Bytes copied into the ring are announced to the worker once they reach this much (or at the
 * ring's end, or before waiting, digest and save): one message and one wake-up per MiB
 * instead of one per 16-64 KiB chunk of gunzip or the network.
 */
const ANNOUNCE = 1024 * 1024

/** Hashing done on OffThreadHasher workers in this process, summed as each digest is answered. */
const totals = { hashers: 0, bytes: 0, busyMs: 0, cpuUs: 0, cpuKnown: true }

/**
 * The in-pipeline hash rate: bytes hashed by OffThreadHasher workers (overlay's applyLayer, the
 * store's put of big blobs) over their workers' thread CPU time from start to digest (`cpuSeconds`,
 * the plumbing included: process.threadCpuUsage on Node >= 23.9, /proc/thread-self/stat before),
 * and the wall time spent inside the hash core (`busySeconds`, inflated when the machine is
 * loaded). `mbPerSec` is per CPU second. Compare with measureKernel().
 */
export function offThreadHashStats(): {
  hashers: number
  bytes: number
  busySeconds: number
  cpuSeconds: number | undefined
  mbPerSec: number
} {
  const busySeconds = totals.busyMs / 1000
  return {
    hashers: totals.hashers,
    bytes: totals.bytes,
    busySeconds,
    cpuSeconds: totals.cpuKnown && totals.hashers > 0 ? totals.cpuUs / 1e6 : undefined,
    mbPerSec: totals.cpuKnown && totals.cpuUs > 0 ? totals.bytes / 1e6 / (totals.cpuUs / 1e6) : busySeconds > 0 ? totals.bytes / 1e6 / busySeconds : 0
  }
}
export function resetOffThreadHashStats(): void {
  Object.assign(totals, { hashers: 0, bytes: 0, busyMs: 0, cpuUs: 0, cpuKnown: true })
}

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
  /** the ring, with its announcements to the worker */
  private readonly writer: RingWriter
  private failure: Error | undefined
  private replies: Array<{ resolve: (m: Reply) => void; reject: (e: Error) => void }> = []

  private constructor(
    readonly algorithm: Algorithm,
    private readonly worker: Worker,
    ring: Uint8Array,
    bytes: number
  ) {
    this.bytes = bytes
    // a piece never crosses the end of the ring, so the worker always reads one contiguous view
    this.writer = new RingWriter(ring, (at, length) => worker.postMessage({ type: "chunk", at, length }), { piece: PIECE, every: ANNOUNCE })
    worker.on("message", (m: Reply) => {
      if (m.type === "ack") this.writer.ack(m.bytes)
      else this.replies.shift()?.resolve(m)
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
    if (resume !== undefined && backend.name === "node") throw new Error("only a WASM backend can resume a saved hash state")
    // the ring is the data area of a shared WebAssembly.Memory: the worker's kernel hashes it in place
    const { memory, ring } = ringMemory(RING)
    const module = kernelModuleFor(algorithm, backend.name)
    const worker = new Worker(new URL("../worker/hash-worker.mjs", import.meta.url), {
      workerData: { algorithm, backend: backend.name, memory, module, state: resume?.state },
      // a fresh loader: the worker must not inherit the parent's loaders or flags
      execArgv: [],
      // it allocates almost nothing of its own (the bytes are in the ring): a small young generation
      resourceLimits: { maxYoungGenerationSizeMb: 2 }
    })
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve())
      worker.once("error", reject)
    })
    return new OffThreadHasher(algorithm, worker, ring, resume?.bytes ?? 0)
  }

  private fail(e: Error) {
    if (this.failure !== undefined) return
    this.failure = e
    this.writer.stop(e)
    for (const r of this.replies.splice(0)) r.reject(e)
  }

  /** Hands `chunk` to the worker; resolves once it is copied into the ring (the caller may reuse it). */
  async update(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure
    await this.writer.write(chunk)
    this.bytes += chunk.byteLength
  }

  private ask(type: "digest" | "save"): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure)
    this.writer.flush()
    const p = new Promise<Reply>((resolve, reject) => this.replies.push({ resolve, reject }))
    this.worker.postMessage({ type })
    return p
  }

  /** The digest of everything given to update(); update must not be called afterwards. */
  async digest(): Promise<Digest> {
    const m = (await this.ask("digest")) as Extract<Reply, { type: "digest" }>
    totals.hashers++
    totals.bytes += this.bytes
    totals.busyMs += m.busyMs
    if (m.cpuUs === undefined) totals.cpuKnown = false
    else totals.cpuUs += m.cpuUs
    return formatDigest(this.algorithm, m.hex)
  }

  /** The hash state after every byte given so far (WASM backend; undefined on node:crypto). */
  async save(): Promise<Uint8Array | undefined> {
    const m = await this.ask("save")
    return (m as { state?: Uint8Array }).state
  }

  async close(): Promise<void> {
    this.failure ??= new Error("the hash worker was closed")
    this.writer.stop(this.failure)
    await this.worker.terminate()
  }
}

type Reply =
  | { type: "ack"; bytes: number }
  | { type: "digest"; hex: string; busyMs: number; cpuUs?: number }
  | { type: "state"; state?: Uint8Array }
