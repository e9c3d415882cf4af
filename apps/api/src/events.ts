// Server-sent events (/events): the engine's progress and lifecycle events, one `event:` per
// kind, fanned out to every connected client. A slow client is dropped rather than buffered.
import { PassThrough } from "node:stream"
import type { ServedEngine } from "./engineApi.js"

const MAX_BUFFERED = 1 << 20

export class EventHub {
  private readonly clients = new Set<PassThrough>()
  private readonly unsubscribe: Array<() => void> = []
  private heartbeat: NodeJS.Timeout | undefined

  constructor(engine: ServedEngine) {
    // classify by shape, not by subscription: an engine that only knows "progress" may hand
    // the same listener progress events for both subscriptions
    const isProgress = (e: unknown) => typeof e === "object" && e !== null && "phase" in e && "digest" in e
    const isLifecycle = (e: unknown) => typeof e === "object" && e !== null && typeof (e as { type?: unknown }).type === "string"
    try {
      this.unsubscribe.push(engine.on("progress", (e) => isProgress(e) && this.publish("progress", e)))
      this.unsubscribe.push(engine.on("event", (e) => isLifecycle(e) && !isProgress(e) && this.publish("lifecycle", e)))
    } catch {
      // an engine without lifecycle events: progress only
    }
  }

  get size(): number {
    return this.clients.size
  }

  /** A new client stream; it starts with a comment so proxies and clients see the stream open. */
  open(): PassThrough {
    const s = new PassThrough()
    this.clients.add(s)
    s.on("close", () => this.clients.delete(s))
    s.write(": cairn-api events\n\n")
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => this.comment("keepalive"), 15_000)
      this.heartbeat.unref()
    }
    return s
  }

  publish(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    for (const s of this.clients) {
      if (s.writableLength > MAX_BUFFERED) s.destroy()
      else s.write(frame)
    }
  }

  private comment(text: string): void {
    for (const s of this.clients) s.write(`: ${text}\n\n`)
  }

  /**
   * Shutdown: end every stream so the HTTP server can close; resolves once each has been read to
   * its end (at most `graceMs`), so no response is still streaming when the runtime is disposed.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat)
    for (const u of this.unsubscribe) u()
    const open = [...this.clients]
    this.clients.clear()
    const closed = open.map((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.once("close", () => resolve()))))
    for (const s of open) s.end()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))])
    clearTimeout(timer)
  }
}
