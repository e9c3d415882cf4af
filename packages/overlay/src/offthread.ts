import { Worker } from "node:worker_threads"
import type { Algorithm, Digest, HasherBackend } from "@cairn/digest"

/** The ring of bytes shared with the worker: bounds memory exactly, keeps both threads busy. */
const RING = 8 * 1024 * 1024
/** Largest piece handed over at once, so the producer never waits for a whole ring to drain. */
const PIECE = 1024 * 1024

/**
 * One digest computed on its own worker thread, so hashing (WASM by default) runs beside
 * decompression and file writes (DESIGN.md, "The hot path"). applyLayer starts one per digest:
 * the blob digest and the diffID are two independent sha256 chains, and on separate workers they
 * run at the same time instead of one after the other. Chunks are copied into a fixed
 * SharedArrayBuffer ring and the worker hashes them in place; the producer waits only when the
 * ring is full. No allocation per chunk, so memory stays flat whatever the layer size.
 */
export class OffThreadHasher {
  /** bytes written into the ring / bytes the worker has hashed, since the start */
  private head = 0
  private tail = 0
  private waiting: Array<() => void> = []
  private failure: Error | undefined
  private result: { resolve: (r: { digest: Digest; bytes: number }) => void; reject: (e: Error) => void } | undefined

  private constructor(
    private readonly worker: Worker,
    private readonly ring: Uint8Array
  ) {
    worker.on("message", (m: { type: string; bytes?: number; digest?: Digest }) => {
      if (m.type === "ack") {
        this.tail += m.bytes as number
        this.wake()
      } else if (m.type === "digest") this.result?.resolve({ digest: m.digest as Digest, bytes: m.bytes as number })
    })
    worker.on("error", (e) => {
      this.failure = e
      this.wake()
      this.result?.reject(e)
    })
  }

  static async start(algorithm: Algorithm, backend?: HasherBackend): Promise<OffThreadHasher> {
    const ring = new SharedArrayBuffer(RING)
    const worker = new Worker(new URL("../worker/hash-worker.mjs", import.meta.url), {
      workerData: { algorithm, backend: backend?.name ?? "wasm", ring },
      // A fresh loader: the worker imports @cairn/digest's build, whatever flags the parent runs with.
      execArgv: []
    })
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve())
      worker.once("error", reject)
    })
    return new OffThreadHasher(worker, new Uint8Array(ring))
  }

  private wake() {
    const ws = this.waiting
    this.waiting = []
    for (const w of ws) w()
  }

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
      this.worker.postMessage({ type: "chunk", at, length: n })
      off += n
    }
  }

  async digest(): Promise<{ digest: Digest; bytes: number }> {
    if (this.failure) throw this.failure
    const p = new Promise<{ digest: Digest; bytes: number }>((resolve, reject) => (this.result = { resolve, reject }))
    this.worker.postMessage({ type: "digest" })
    return p
  }

  async close() {
    await this.worker.terminate()
  }
}
