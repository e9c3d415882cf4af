// One upstream fetch of a cold blob, streamed to every client that asks for it while it is in
// flight: a client that joins late first gets the bytes already sent (kept while they stay under
// REPLAY_MAX), then the live ones. Past that bound the replay is dropped and later clients wait for
// the stored blob instead. The slowest client sets the pace (backpressure); a client that hangs
// up is dropped. The last chunk is released by end() only, after the blob is verified and stored.
import { PassThrough } from "node:stream"

const REPLAY_MAX = 32 << 20

/** Writes `chunk`, resolving when the stream has room for more (or has closed). */
export const writeWithBackpressure = (s: PassThrough, chunk: Buffer) => (s.write(chunk) ? Promise.resolve() : new Promise<void>((r) => s.once("drain", r).once("close", r)))

export class Fanout {
  private readonly clients = new Set<PassThrough>()
  private replay: Buffer[] | undefined = []
  private replayBytes = 0
  private closed = false

  /** A stream of the whole blob for one more client, or undefined when it can no longer be given one. */
  join(): PassThrough | undefined {
    if (this.closed || this.replay === undefined) return undefined
    const s = new PassThrough({ highWaterMark: 1 << 20 })
    for (const c of this.replay) s.write(c)
    this.clients.add(s)
    s.once("close", () => this.clients.delete(s))
    return s
  }

  /** Sends a chunk to every client, resolving when each has room for more (or has gone). */
  async write(chunk: Buffer): Promise<void> {
    if (this.replay !== undefined) {
      this.replay.push(chunk)
      this.replayBytes += chunk.length
      if (this.replayBytes > REPLAY_MAX) this.replay = undefined
    }
    await Promise.all([...this.clients].filter((c) => !c.destroyed).map((c) => writeWithBackpressure(c, chunk)))
  }

  /** The blob is stored: the last chunk, and the end, to every client. */
  end(last: Buffer | undefined): void {
    this.closed = true
    this.replay = undefined
    for (const c of this.clients) if (!c.destroyed) c.end(last)
  }

  /** The fetch failed: every client's response is cut, which tells it the blob is incomplete. */
  destroy(e: Error): void {
    this.closed = true
    this.replay = undefined
    for (const c of this.clients) c.destroy(e)
  }
}
