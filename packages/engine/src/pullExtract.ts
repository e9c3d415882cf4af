// A pulled layer extracted while it downloads (DESIGN.md "The hot path": never written and read
// back): the response bytes are teed to the store's verified put and to the extractor, at the
// pace of the slower of the two (each side buffers at most TEE_BUFFER bytes). The extraction goes
// to a temporary dir that becomes the snapshot only once both digests checked out (the put's blob
// digest and size, the extractor's diffID); any failure removes it, and a mismatch leaves no blob
// (the store discards bad bytes) either. A download that is cut keeps the store's partial ingest
// for the registry client's Range resume; the resumed blob is then extracted from the store, once
// complete, as a blob found in the store always is.
//
// Every layer streams, not only one whose lower snapshots exist when its download starts: the
// layers of an image download at once, and one waiting for the layer below would be written and
// read back. What an extraction needs of its lowers is settled when it is adopted, in order, over
// the snapshot below (@cairn/overlay's lowersLater): the parents the layer does not list take
// their lower directory's metadata then. A layer that hardlinks to a file only a lower layer holds
// (rare: a changeset tar's links are within the layer) gives up its streamed extraction, and is
// extracted from the store in order, with its lowers, as a blob found in the store is.
import { rename } from "node:fs/promises"
import { type Digest, share } from "@cairn/digest"
import { LowersNeededError } from "@cairn/overlay/errors"
import type { BlobDescriptor, BlobSink } from "@cairn/registry"
import * as Effect from "effect/Effect"
import type { EngineContext } from "./context.js"
import { type ExtractedLayer, settleLayer } from "./layers.js"
import type { LayerDescriptor } from "./store.js"

/** Bytes each side of the tee may hold before the source waits for it. */
export const TEE_BUFFER = 1 << 20

/**
 * One reader's side of a tee: the source's chunks as they came (never joined into new buffers, as
 * a Readable read by `for await` joins what it holds: 855 MB of 1 MiB copies in one pull, each
 * kept alive by a pending write long enough to reach V8's old space), at most `highWaterMark`
 * bytes of them held. Read it once, with `for await` or its iterator.
 */
export class TeeBranch implements AsyncIterable<Uint8Array> {
  private readonly queue: Uint8Array[] = []
  private held = 0
  private ended = false
  /** the source's failure, after the chunks before it */
  private failure: Error | undefined
  /** a stop: its error (if any) before anything still held */
  private stop: { error: Error | undefined } | undefined
  private reading: (() => void) | undefined
  private writing: (() => void) | undefined
  /** the reader saw the end of the bytes */
  finished = false

  constructor(private readonly highWaterMark: number) {}

  /** Whether the branch was stopped: by its reader (a loop left early), or by destroy(). */
  get destroyed(): boolean {
    return this.stop !== undefined
  }

  /** Stops the branch: nothing more is held for it, and its reader gets `error` (else the end) at its next read. */
  destroy(error?: Error): void {
    if (this.stop !== undefined || this.finished) return
    this.stop = { error }
    this.queue.length = 0
    this.held = 0
    this.wake()
  }

  /** Adds a chunk; false once the branch holds its fill (wait for writable()). */
  push(chunk: Uint8Array): boolean {
    if (this.stop !== undefined) return true
    this.queue.push(chunk)
    this.held += chunk.length
    this.wake()
    return this.held < this.highWaterMark
  }

  end(error?: Error): void {
    if (error !== undefined) this.failure = error
    this.ended = true
    this.wake()
  }

  /** Resolves once the branch holds less than its fill, or is stopped. */
  writable(): Promise<void> {
    if (this.stop !== undefined || this.held < this.highWaterMark) return Promise.resolve()
    return new Promise((res) => (this.writing = res))
  }

  private wake() {
    const r = this.reading
    this.reading = undefined
    r?.()
    if (this.stop !== undefined || this.held < this.highWaterMark) {
      const w = this.writing
      this.writing = undefined
      w?.()
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const done = { done: true as const, value: undefined }
    return {
      next: async (): Promise<IteratorResult<Uint8Array>> => {
        for (;;) {
          if (this.stop !== undefined) {
            if (this.stop.error !== undefined) throw this.stop.error
            return done
          }
          const chunk = this.queue.shift()
          if (chunk !== undefined) {
            this.held -= chunk.length
            this.wake()
            return { done: false, value: chunk }
          }
          if (this.failure !== undefined) throw this.failure
          if (this.ended) {
            this.finished = true
            return done
          }
          await new Promise<void>((r) => (this.reading = r))
        }
      },
      // a reader that leaves its loop early stops the branch
      return: async () => {
        this.destroy()
        return done
      }
    }
  }
}

/**
 * Two readers of the bytes of `source`: `main` (which must be read to the end; its stop stops the
 * source) and `side` (which may stop early: `side.destroy()` lets `main` go on alone). A failure
 * of the source ends both with it; a slow reader slows the source (no unbounded buffering).
 */
export function tee(source: AsyncIterable<Uint8Array>, highWaterMark = TEE_BUFFER): { main: TeeBranch; side: TeeBranch } {
  const main = new TeeBranch(highWaterMark)
  const side = new TeeBranch(highWaterMark)
  const storeStopped = () => side.destroy(new Error("the store stopped reading this blob"))
  const pump = async () => {
    try {
      for await (const chunk of source) {
        if (main.destroyed) {
          // the put gave up: the side must not see a clean end of a part of the blob
          storeStopped()
          return // breaking out returns the source: its request is closed
        }
        // each reader gets a view of its own: a lent chunk (a bulk download's) is given back for
        // reuse once both gave theirs back (the store once written, the extractor once copied)
        const [toMain, toSide] = share(chunk, 2)
        const a = main.push(toMain!)
        const b = side.push(toSide!)
        if (!a) await main.writable()
        if (!b) await side.writable()
      }
      if (main.destroyed) storeStopped()
      main.end()
      side.end()
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e))
      main.end(err)
      side.end(err)
    }
  }
  void pump()
  return { main, side }
}

/** A layer extracted during its download, waiting to become its snapshot. */
interface Prepared {
  /** the Snapshotter's key of the prepared snapshot, and its directory */
  readonly key: string
  readonly dir: string
  readonly diffId: Digest
  /** made before its lower snapshots existed: what adopt settles against them */
  readonly later?: ExtractedLayer
}

/** How a layer whose download starts is extracted: over lower snapshots that exist, or with its lowers settled later. */
export type StreamPlan = { readonly diffId: Digest } & ({ readonly lowers: ReadonlyArray<string> } | { readonly lowersLater: true })

/**
 * The pull's sink wrapper: a fresh download (offset 0) of a layer whose snapshot is missing is
 * extracted on the way in; everything else goes to the store as it is. `adopt` later moves a
 * prepared extraction into the snapshot dir being made, once the snapshots below it exist.
 */
export class StreamingExtractor {
  private readonly prepared = new Map<string, Prepared>()

  constructor(
    private readonly ctx: EngineContext,
    private readonly layers: ReadonlyArray<LayerDescriptor>,
    /** decides, when a layer's download starts, whether and how it is extracted as it arrives (undefined: not) */
    private readonly plan: (index: number) => Promise<StreamPlan | undefined>
  ) {}

  sink(base: BlobSink): BlobSink {
    return { ...base, put: (desc, data) => this.put(base, desc, data) }
  }

  private async put(base: BlobSink, desc: BlobDescriptor, data: AsyncIterable<Uint8Array>): Promise<{ created: boolean }> {
    const index = this.layers.findIndex((l) => l.digest === desc.digest)
    const plan = index < 0 || this.prepared.has(desc.digest) ? undefined : await this.plan(index)
    if (plan === undefined) return base.put(desc, data)
    const layer = this.layers[index]!
    const { key, dir } = await Effect.runPromise(this.ctx.snapshotter.prepare([]))
    const drop = () => Effect.runPromise(this.ctx.snapshotter.remove(key))
    const { main, side } = tee(data)
    const later = "lowersLater" in plan
    const extracting = later
      ? this.ctx.extract(layer, plan.diffId, dir, () => {}, [], { source: side, lowersLater: true })
      : this.ctx.extract(layer, plan.diffId, dir, () => {}, plan.lowers, { source: side })
    // an extraction that fails stops reading: the put goes on alone (its verdict on the bytes comes first)
    extracting.catch(() => side.destroy())
    // a put that returns without reading to the end (another process stored the blob meanwhile)
    // must not leave the tee waiting on it: stop the source, and let the side see a cut blob
    let cut = false
    const putting = base.put(desc, main).finally(() => {
      if (!main.finished) {
        cut = true
        main.destroy()
      }
    })
    const [put, extracted] = await Promise.allSettled([putting, extracting])
    try {
      if (put.status === "rejected") throw put.reason
      // the blob is in the store, but this extraction saw only part of it (cut), or it needs its
      // lowers: the snapshot is made from the stored blob later, as for any blob the pull found present
      if (cut || (extracted.status === "rejected" && extracted.reason instanceof LowersNeededError)) {
        await drop()
        return put.value
      }
      if (extracted.status === "rejected") throw extracted.reason
    } catch (e) {
      await drop()
      throw e
    }
    this.prepared.set(desc.digest, later ? { key, dir, diffId: plan.diffId, later: extracted.value } : { key, dir, diffId: plan.diffId })
    return put.value
  }

  /**
   * Moves the extraction made during the download of `layer` into `target` (an empty dir), settled
   * first against `lowers` (the snapshots below, top first, which exist now) when it was made
   * without them; false when there is none (the blob was in the store already, or its download
   * was resumed).
   */
  async adopt(layer: LayerDescriptor, diffId: Digest, target: string, lowers: ReadonlyArray<string>): Promise<boolean> {
    const p = this.prepared.get(layer.digest)
    if (p === undefined || p.diffId !== diffId) return false
    this.prepared.delete(layer.digest)
    try {
      if (p.later !== undefined) settleLayer(p.dir, lowers, p.later)
      await rename(p.dir, target)
    } finally {
      await Effect.runPromise(this.ctx.snapshotter.remove(p.key))
    }
    return true
  }

  /** Removes what was prepared and never adopted (a pull that failed, a snapshot another process made first). */
  async discard(): Promise<void> {
    for (const p of this.prepared.values()) await Effect.runPromise(this.ctx.snapshotter.remove(p.key))
    this.prepared.clear()
  }
}
