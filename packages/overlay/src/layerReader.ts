/**
 * A compressed layer read, hashed and decompressed on a thread of its own (worker/layer-reader.mjs),
 * its tar bytes handed back through a shared ring. A file is read by the thread itself; a stream's
 * chunks (a download) are copied into an input ring that is the hash kernel's memory, hashed there
 * and decompressed from there. The applying thread is left the tar reader and
 * the writes, and allocates nothing per chunk: on the libs layer this removed ~45 full
 * mark-compacts per layer from the applying thread (each one ~10 ms of CPU across V8's threads),
 * triggered by the churn of read and decompressor buffers in a heap that, unlike a bare
 * `node -e` gunzip's, has already been sized by an earlier mark-compact.
 */
import { closeSync, openSync, readSync } from "node:fs"
import { Worker } from "node:worker_threads"
import { type Algorithm, giveBack } from "@cairn/digest"
import { kernelModuleFor, ringMemory } from "@cairn/digest/ring-hasher"
import { RingWriter } from "@cairn/digest/ring-writer"
import { type Compression, detectCompression, nativeZstdAvailable, type ZstdDecoder } from "./compression.js"
import { DecompressionError } from "./errors.js"

/**
 * The ring of tar bytes shared with the reader thread. The thread announces 1 MiB at a time and the
 * tar reader holds the last two chunks it was given, so 8 MiB leaves the thread room to run ahead.
 */
const RING = 8 * 1024 * 1024
/** Released bytes are acknowledged in batches of at least this much (one message each). */
const ACK = 1024 * 1024
/** The input ring of a stream, and the most of it one piece takes (a piece never crosses its end). */
const IN_RING = 4 * 1024 * 1024
const IN_PIECE = 1024 * 1024

type Message =
  | { type: "chunk"; at: number; length: number; read: number }
  | { type: "end"; size: number; hex?: string }
  | { type: "input-ack"; bytes: number }
  | { type: "error"; stage: "read" | "decompress"; message: string; code?: string; errno?: number; syscall?: string }

/** The compression of a layer file, from its first bytes. */
export function fileCompression(path: string): Compression {
  const fd = openSync(path, "r")
  try {
    const head = Buffer.alloc(4)
    return detectCompression(head.subarray(0, readSync(fd, head, 0, 4, 0)))
  } finally {
    closeSync(fd)
  }
}

/** Whether the reader thread can decompress `compression` (gzip; zstd where node:zlib has it and fzstd was not asked for). */
export const readerDecompresses = (compression: Compression, zstd: ZstdDecoder | undefined): boolean =>
  compression === "gzip" || (compression === "zstd" && nativeZstdAvailable && zstd !== "fzstd")

export class LayerReader {
  private readonly queue: Message[] = []
  private wake: (() => void) | undefined
  private failure: Error | undefined
  private end: { size: number; hex?: string } | undefined
  /** a stream's input ring, with its announcements to the thread */
  private input: RingWriter | undefined

  private constructor(
    private readonly worker: Worker,
    private readonly ring: SharedArrayBuffer,
    private readonly compression: Compression
  ) {
    worker.on("message", (m: Message) => {
      if (m.type === "input-ack") {
        this.input?.ack(m.bytes)
        return
      }
      if (m.type === "end") this.end = m
      else this.queue.push(m)
      this.notify()
    })
    worker.on("error", (e) => this.fail(e))
    worker.on("exit", (code) => this.fail(new Error(`the layer-reader thread exited (code ${code}) before the end of the layer`)))
  }

  /** Starts reading the file at `path` (gzip or zstd); `hash` asks for the digest of its bytes. */
  static file(path: string, compression: Compression, hash?: { algorithm: Algorithm; backend: string }): LayerReader {
    return LayerReader.start({ path }, compression, hash)
  }

  /**
   * Starts on a stream of compressed bytes: its chunks are copied into the input ring as the
   * thread frees it (the stream is read no faster than the thread decompresses). A failure of the
   * stream is thrown by chunks() as it is.
   */
  static stream(source: AsyncIterable<Uint8Array>, compression: Compression, hash?: { algorithm: Algorithm; backend: string }): LayerReader {
    // the input ring is the data area of a shared WebAssembly.Memory: the thread's kernel hashes it in place
    const { memory, ring } = ringMemory(IN_RING)
    const reader = LayerReader.start({ input: { memory, bytes: IN_RING } }, compression, hash)
    void reader.pump(source, ring)
    return reader
  }

  private static start(from: { path: string } | { input: { memory: object; bytes: number } }, compression: Compression, hash?: { algorithm: Algorithm; backend: string }) {
    const ring = new SharedArrayBuffer(RING)
    const worker = new Worker(new URL("../worker/layer-reader.mjs", import.meta.url), {
      // cairn's kernel comes compiled: the thread neither generates nor compiles it (~20 ms per layer)
      workerData: { ...from, compression, out: ring, hash, module: hash && kernelModuleFor(hash.algorithm, hash.backend) },
      // the thread's own heap stays small: its buffers are young and die in scavenges, and a small
      // young generation (its JS objects are few) keeps the thread's memory small
      execArgv: [],
      resourceLimits: { maxYoungGenerationSizeMb: 2 }
    })
    return new LayerReader(worker, ring, compression)
  }

  /**
   * Copies the stream into the input ring, announced per MiB (not per chunk of the network),
   * waiting while the ring is full.
   */
  private async pump(source: AsyncIterable<Uint8Array>, ring: Uint8Array) {
    const input = new RingWriter(ring, (at, length) => this.worker.postMessage({ type: "input", at, length }), { piece: IN_PIECE, every: ACK })
    this.input = input
    try {
      for await (const c of source) {
        await input.write(c)
        // copied into the ring: a lent chunk (a download's) can be read into again
        giveBack(c)
      }
      input.flush()
      this.worker.postMessage({ type: "input-end" })
    } catch (e) {
      this.fail(e as Error)
    }
  }

  private notify() {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  private fail(e: Error) {
    if (this.end !== undefined) return
    this.failure ??= e
    this.notify()
    this.input?.stop(this.failure)
  }

  /**
   * The tar bytes, as views of the ring. A view stays valid until the chunk after the next one is
   * asked for (a consumer may keep the last chunk's tail while it waits for the next, as the tar
   * reader does), so a consumer that keeps bytes longer copies them.
   */
  async *chunks(onRead?: (bytes: number) => void): AsyncGenerator<Buffer> {
    // the last two chunks handed out stay valid: when chunk k+1 is asked for, only chunk k-1 is
    // given back (the consumer may still be reading chunk k while it waits)
    let previous = 0
    let held = 0
    let released = 0 // given back, not yet acknowledged
    for (;;) {
      while (this.queue.length === 0 && this.end === undefined && this.failure === undefined) await new Promise<void>((r) => (this.wake = r))
      const m = this.queue.shift()
      if (m === undefined) {
        if (this.end !== undefined) return
        throw this.failure
      }
      if (m.type === "error") throw this.error(m)
      if (m.type !== "chunk") continue
      released += previous
      previous = held
      held = m.length
      if (released >= ACK) {
        this.worker.postMessage({ type: "ack", bytes: released })
        released = 0
      }
      onRead?.(m.read)
      yield Buffer.from(this.ring, m.at, m.length)
    }
  }

  /** The bytes read (the file's or the stream's) and, when asked for, their digest (hex): once chunks() has ended. */
  get result(): { size: number; hex?: string } {
    if (this.end === undefined) throw new Error("the layer has not been read to its end")
    return this.end
  }

  private error(m: Extract<Message, { type: "error" }>): Error {
    if (m.stage === "decompress") return new DecompressionError({ compression: this.compression, reason: m.message })
    return Object.assign(new Error(m.message), { code: m.code, errno: m.errno, syscall: m.syscall })
  }

  /** Stops the thread: nothing more is read (also after a failure). */
  async close(): Promise<void> {
    this.failure ??= new Error("the layer reader was closed")
    this.input?.stop(this.failure)
    await this.worker.terminate()
  }
}
