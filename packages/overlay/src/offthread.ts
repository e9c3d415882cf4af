import { Worker } from "node:worker_threads"
import type { Algorithm, Digest, HasherBackend } from "@cairn/digest"

/** The ring of bytes shared with the worker: bounds memory exactly, keeps both threads busy. */
const RING = 8 * 1024 * 1024
/** Largest piece handed over at once, so the producer never waits for a whole ring to drain. */
const PIECE = 1024 * 1024

/**
 * Several digests computed on a worker thread, so hashing (WASM by default) runs on the other
 * core beside decompression and file writes (DESIGN.md, "The hot path"). Chunks are copied into
 * a fixed SharedArrayBuffer ring and the worker hashes them in place; the producer waits only
 * when the ring is full. No allocation per chunk, so memory stays flat whatever the layer size.
 */
export class OffThreadHashers {
  /** bytes written into the ring / bytes the worker has hashed, since the start */
  private head = 0
  private tail = 0
  private waiting: Array<() => void> = []
  private failure: Error | undefined
  private result: { resolve: (r: { digests: Digest[]; bytes: number[] }) => void; reject: (e: Error) => void } | undefined

  private constructor(
    private readonly worker: Worker,
    private readonly ring: Uint8Array
  ) {
    worker.on("message", (m: { type: string; bytes?: number }) => {
      if (m.type === "ack") {
        this.tail += m.bytes as number
        this.wake()
      } else if (m.type === "digests") this.result?.resolve(m as unknown as { digests: Digest[]; bytes: number[] })
    })
    worker.on("error", (e) => {
      this.failure = e
      this.wake()
      this.result?.reject(e)
    })
  }

  static async start(algorithms: readonly Algorithm[], backend?: HasherBackend): Promise<OffThreadHashers> {
    const ring = new SharedArrayBuffer(RING)
    const worker = new Worker(new URL("../worker/hash-worker.mjs", import.meta.url), {
      workerData: { algorithms, backend: backend?.name ?? "wasm", ring },
      // A fresh loader: the worker imports @cairn/digest's build, whatever flags the parent runs with.
      execArgv: []
    })
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve())
      worker.once("error", reject)
    })
    return new OffThreadHashers(worker, new Uint8Array(ring))
  }

  private wake() {
    const ws = this.waiting
    this.waiting = []
    for (const w of ws) w()
  }

  private post(id: number, chunk: Uint8Array) {
    const at = this.head % RING
    this.ring.set(chunk, at)
    this.head += chunk.byteLength
    this.worker.postMessage({ type: "chunk", id, at, length: chunk.byteLength })
  }

  async update(id: number, chunk: Uint8Array): Promise<void> {
    for (let off = 0; off < chunk.byteLength; ) {
      if (this.failure) throw this.failure
      // a piece never crosses the end of the ring, so the worker always reads one contiguous view;
      // the blob and tar producers interleave across awaits, so size the piece after any wait
      const size = () => Math.min(chunk.byteLength - off, PIECE, RING - (this.head % RING))
      while (this.head + size() - this.tail > RING && !this.failure) await new Promise<void>((r) => this.waiting.push(r))
      if (this.failure) throw this.failure
      const n = size()
      this.post(id, chunk.subarray(off, off + n))
      off += n
    }
  }

  async digests(): Promise<{ digests: Digest[]; bytes: number[] }> {
    if (this.failure) throw this.failure
    const p = new Promise<{ digests: Digest[]; bytes: number[] }>((resolve, reject) => (this.result = { resolve, reject }))
    this.worker.postMessage({ type: "digest" })
    return p
  }

  async close() {
    await this.worker.terminate()
  }
}
