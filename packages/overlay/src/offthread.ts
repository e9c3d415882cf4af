import { Worker } from "node:worker_threads"
import type { Algorithm, Digest, HasherBackend } from "@cairn/digest"

/** Bytes in flight to the worker before the producer waits: bounds memory, keeps both threads busy. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024

/**
 * Several digests computed on a worker thread, so hashing (WASM by default) runs on the other
 * core beside decompression and file writes (DESIGN.md, "The hot path"). Chunks are copied once
 * into transferable buffers; the producer awaits `update` only when 8 MiB are in flight.
 */
export class OffThreadHashers {
  private inFlight = 0
  /** producers waiting for room (the blob and the tar streams may both wait) */
  private waiting: Array<() => void> = []
  private failure: Error | undefined
  private result: { resolve: (r: { digests: Digest[]; bytes: number[] }) => void; reject: (e: Error) => void } | undefined

  private constructor(private readonly worker: Worker) {
    worker.on("message", (m: { type: string; bytes?: number | number[]; digests?: Digest[] }) => {
      if (m.type === "ack") {
        this.inFlight -= m.bytes as number
        if (this.inFlight <= MAX_IN_FLIGHT / 2) this.wake()
      } else if (m.type === "digests") this.result?.resolve(m as { digests: Digest[]; bytes: number[] })
    })
    worker.on("error", (e) => {
      this.failure = e
      this.wake()
      this.result?.reject(e)
    })
  }

  static async start(algorithms: readonly Algorithm[], backend?: HasherBackend): Promise<OffThreadHashers> {
    const worker = new Worker(new URL("../worker/hash-worker.mjs", import.meta.url), {
      workerData: { algorithms, backend: backend?.name ?? "wasm" },
      // A fresh loader: the worker imports @cairn/digest's build, whatever flags the parent runs with.
      execArgv: []
    })
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve())
      worker.once("error", reject)
    })
    return new OffThreadHashers(worker)
  }

  private wake() {
    const ws = this.waiting
    this.waiting = []
    for (const w of ws) w()
  }

  async update(id: number, chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure
    const buf = new ArrayBuffer(chunk.byteLength)
    new Uint8Array(buf).set(chunk)
    this.inFlight += chunk.byteLength
    this.worker.postMessage({ type: "chunk", id, buf }, [buf])
    while (this.inFlight > MAX_IN_FLIGHT && !this.failure) await new Promise<void>((r) => this.waiting.push(r))
    if (this.failure) throw this.failure
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
