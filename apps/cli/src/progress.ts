import type { Output } from "./output.js"
import { humanSize } from "./output.js"

export interface ProgressEvent {
  readonly kind: string
  readonly phase: string
  readonly digest: string
  readonly bytes: number
  readonly total?: number
}

/** auto: bars when stdout is a TTY, else plain; tty: bars; plain: a line per blob state change; json: those as JSON lines; none. */
export type ProgressMode = "auto" | "tty" | "plain" | "json" | "none"

export const isProgressMode = (s: string): s is ProgressMode => ["auto", "tty", "plain", "json", "none"].includes(s)

/** 12.3MB/s: a rate in decimal units with at most three significant digits. */
export const humanRate = (bytesPerSecond: number): string => `${humanSize(Math.round(bytesPerSecond))}/s`

interface Row {
  phase: string
  bytes: number
  total?: number
  /** when this phase started, and when its bytes reached the total (the rate freezes there) */
  start: number
  end?: number
}

const shortDigest = (digest: string) => (digest.includes(":") ? digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13) : digest.slice(0, 12))

/**
 * Per-blob progress: bars redrawn in place on a TTY; on a pipe one line per state change on
 * stderr (docker's plain progress), or JSON lines; nothing with --json / --quiet unless asked.
 * A blob whose bytes reach its total is shown done, with the rate it had when it finished.
 */
export class ProgressBars {
  private readonly rows = new Map<string, Row>()
  private drawn = 0
  private last = 0
  private readonly mode: "tty" | "plain" | "json" | "none"

  constructor(
    private readonly out: Output,
    mode: ProgressMode = "auto",
    private readonly now: () => number = Date.now
  ) {
    const quietByDefault = out.json || out.quiet
    this.mode = mode === "auto" ? (quietByDefault ? "none" : out.tty ? "tty" : "plain") : mode
  }

  /** the state a row shows: a phase whose bytes reached the total is done */
  private static state(r: Row): string {
    return r.end !== undefined ? "done" : r.phase
  }

  update(e: ProgressEvent) {
    if (this.mode === "none") return
    const t = this.now()
    const old = this.rows.get(e.digest)
    const before = old === undefined ? undefined : ProgressBars.state(old)
    const row: Row = old !== undefined && old.phase === e.phase ? old : { phase: e.phase, bytes: 0, start: t }
    row.bytes = e.bytes
    if (e.total !== undefined) row.total = e.total
    if (row.end === undefined && (e.phase === "done" || (row.total !== undefined && row.bytes >= row.total))) row.end = t
    this.rows.set(e.digest, row)
    const after = ProgressBars.state(row)
    if (this.mode === "tty") {
      if (after !== before || t - this.last > 100) {
        this.last = t
        this.draw()
      }
      return
    }
    // plain and json: one line when a blob enters a new state
    if (after === before) return
    const done = after === "done"
    const line =
      this.mode === "json"
        ? JSON.stringify({ digest: e.digest, kind: e.kind, phase: row.phase, done, bytes: row.bytes, ...(row.total === undefined ? {} : { total: row.total }) })
        : `${shortDigest(e.digest)}: ${row.phase === "done" ? "done" : `${row.phase}${done ? " done" : ""}`} ${humanSize(row.total ?? row.bytes)}${done ? ` (${humanRate(this.rate(row))})` : ""}`
    this.out.err.write(`${line}\n`)
  }

  private rate(r: Row): number {
    const secs = Math.max(0.001, ((r.end ?? this.now()) - r.start) / 1000)
    return r.bytes / secs
  }

  private draw() {
    const w = this.out.out
    if (this.drawn > 0) w.write(`\x1b[${this.drawn}A`)
    const cols = (w as { columns?: number }).columns ?? 80
    let n = 0
    for (const [digest, r] of this.rows) {
      const state = ProgressBars.state(r)
      const rate = this.rate(r)
      const frac = r.total ? Math.min(1, r.bytes / r.total) : state === "done" ? 1 : 0
      const barWidth = Math.max(10, Math.min(30, cols - 70))
      const filled = Math.round(frac * barWidth)
      const bar = `[${"=".repeat(Math.max(0, filled - 1))}${filled > 0 ? ">" : ""}${" ".repeat(barWidth - filled)}]`
      const eta = r.total && rate > 0 && state !== "done" ? ` ETA ${Math.ceil((r.total - r.bytes) / rate)}s` : ""
      const size = r.total ? `${humanSize(r.bytes)}/${humanSize(r.total)}` : humanSize(r.bytes)
      const line = `${shortDigest(digest)}: ${state.padEnd(8)} ${bar} ${size} ${humanRate(rate)}${eta}`
      w.write(`\x1b[2K${line.slice(0, cols - 1)}\n`)
      n++
    }
    this.drawn = n
  }
}
