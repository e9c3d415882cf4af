import type { Writable } from "node:stream"

/** How the user asked us to talk: JSON for machines, tables for people, only IDs when quiet (as docker's -q). */
export interface Output {
  readonly json: boolean
  readonly quiet: boolean
  readonly color: boolean
  readonly tty: boolean
  readonly out: Writable
  readonly err: Writable
  /** one line of human output (suppressed by --quiet and --json) */
  info(line: string): void
  /** the command's result: JSON when --json; with --quiet the `ids()` one per line (nothing without them); else `human()` */
  result(value: unknown, human: () => string | undefined, ids?: () => readonly string[]): void
  warn(line: string): void
}

export function makeOutput(opts: { json: boolean; quiet: boolean; out?: Writable; err?: Writable }): Output {
  const out = opts.out ?? process.stdout
  const err = opts.err ?? process.stderr
  const tty = Boolean((out as { isTTY?: boolean }).isTTY)
  const color = tty && !process.env["NO_COLOR"] && process.env["TERM"] !== "dumb"
  return {
    json: opts.json,
    quiet: opts.quiet,
    color,
    tty,
    out,
    err,
    info(line) {
      if (!opts.quiet && !opts.json) out.write(`${line}\n`)
    },
    result(value, human, ids) {
      if (opts.json) {
        out.write(`${JSON.stringify(value, null, 2)}\n`)
        return
      }
      if (opts.quiet) {
        const lines = ids?.() ?? []
        if (lines.length > 0) out.write(`${lines.join("\n")}\n`)
        return
      }
      const text = human()
      if (text !== undefined && text !== "") out.write(text.endsWith("\n") ? text : `${text}\n`)
    },
    warn(line) {
      err.write(`${color ? "\x1b[33mwarning\x1b[0m" : "warning"}: ${line}\n`)
    }
  }
}

/** Left-aligned columns, two spaces apart, like `docker images`. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

/** 1.5 MB, 12 kB: decimal units as docker prints them. */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return "-"
  const units = ["B", "kB", "MB", "GB", "TB"]
  let v = bytes
  let u = 0
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return u === 0 ? `${Math.round(v)}B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)}${units[u]}`
}

/** "3 minutes ago", for CREATED columns. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "-"
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  const s = Math.max(0, Math.round((now - t) / 1000))
  const steps: [number, string][] = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
    [Number.POSITIVE_INFINITY, "year"]
  ]
  let v = s
  for (const [n, name] of steps) {
    if (v < n) return v <= 1 && name === "second" ? "just now" : `${v} ${name}${v === 1 ? "" : "s"} ago`
    v = Math.floor(v / n)
  }
  return iso
}

/** sha256:0123456789ab… → 0123456789ab (12 hex), as docker shows IDs. */
export function shortId(digest: string | undefined): string {
  if (!digest) return "-"
  const hex = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1) : digest
  return hex.slice(0, 12)
}
