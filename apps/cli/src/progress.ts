import type { Output } from "./output.js"
import { humanSize } from "./output.js"

export interface ProgressEvent {
  readonly kind: string
  readonly phase: string
  readonly digest: string
  readonly bytes: number
  readonly total?: number
}

/**
 * Per-layer progress bars (bytes, rate, ETA) redrawn in place on a TTY; nothing at all when
 * stdout is not a TTY, or with --json / --quiet, so scripts get clean output.
 */
export class ProgressBars {
  private readonly rows = new Map<string, { phase: string; bytes: number; total?: number; start: number }>()
  private drawn = 0
  private last = 0
  private readonly enabled: boolean

  constructor(private readonly out: Output) {
    this.enabled = out.tty && !out.json && !out.quiet
  }

  update(e: ProgressEvent) {
    if (!this.enabled) return
    const key = e.digest
    const row = this.rows.get(key) ?? { phase: e.phase, bytes: 0, start: Date.now() }
    row.phase = e.phase
    row.bytes = e.bytes
    if (e.total !== undefined) row.total = e.total
    this.rows.set(key, row)
    const now = Date.now()
    if (e.phase === "done" || now - this.last > 100) {
      this.last = now
      this.draw()
    }
  }

  private draw() {
    const w = this.out.out
    if (this.drawn > 0) w.write(`\x1b[${this.drawn}A`)
    const cols = (w as { columns?: number }).columns ?? 80
    let n = 0
    for (const [digest, r] of this.rows) {
      const secs = Math.max(0.001, (Date.now() - r.start) / 1000)
      const rate = r.bytes / secs
      const frac = r.total ? Math.min(1, r.bytes / r.total) : r.phase === "done" ? 1 : 0
      const barWidth = Math.max(10, Math.min(30, cols - 70))
      const filled = Math.round(frac * barWidth)
      const bar = `[${"=".repeat(Math.max(0, filled - 1))}${filled > 0 ? ">" : ""}${" ".repeat(barWidth - filled)}]`
      const eta = r.total && rate > 0 && r.phase !== "done" ? ` ETA ${Math.ceil((r.total - r.bytes) / rate)}s` : ""
      const size = r.total ? `${humanSize(r.bytes)}/${humanSize(r.total)}` : humanSize(r.bytes)
      const id = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13) : digest.slice(0, 12)
      const line = `${id}: ${r.phase.padEnd(8)} ${bar} ${size} ${humanSize(rate)}/s${eta}`
      w.write(`\x1b[2K${line.slice(0, cols - 1)}\n`)
      n++
    }
    this.drawn = n
  }
}
