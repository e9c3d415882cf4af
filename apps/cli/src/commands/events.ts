// `cairn events`: the root's lifecycle events from its log (every process's, as podman's file
// events backend), filtered, then following new ones until SIGINT/SIGTERM or --until.
import { watch } from "node:fs"
import { open, stat } from "node:fs/promises"
import { join } from "node:path"
import { command } from "../command.js"
import { UsageError } from "../errors.js"

interface Logged {
  readonly time: string
  readonly type: string
  readonly id: string
  readonly name?: string
}

/** RFC 3339 / ISO time, Unix seconds, or a duration before now (`90s`, `10m`, `2h`, `1.5h`). */
export function parseWhen(text: string, now = Date.now()): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)
  if (d) return now - Number(d[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[d[2] as "ms" | "s" | "m" | "h"]
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000
  const t = Date.parse(text)
  if (Number.isNaN(t)) throw new UsageError(`cannot read "${text}" as a time: use RFC 3339 (2026-12-04T10:00:00Z), Unix seconds or a duration (10m, 2h)`, "events")
  return t
}

const filterKeys = ["type", "event", "image", "container"] as const

export const events = command({
  name: "events",
  summary: "Show lifecycle events of the root (images imported/tagged/removed, containers created/mounted/…), then follow new ones (like podman events)",
  usage: "",
  description:
    "Every cairn process over a root appends its events to ROOT/events.log; this prints them and, unless --stream=false or\n" +
    "--until, waits for new ones until SIGINT/SIGTERM. Filters (repeatable, ANDed across keys, ORed within one):\n" +
    "type=image|container, event=imported|tagged|removed|created|mounted|unmounted|committed, image=NAME|ID, container=NAME|ID.",
  examples: ["cairn events", "cairn events --since 10m --stream=false", "cairn events --filter type=container --format json"],
  options: {
    since: { type: "string", value: "TIME", description: "only events at or after TIME (RFC 3339, Unix seconds, or a duration ago: 10m)" },
    until: { type: "string", value: "TIME", description: "only events before TIME; stop following at TIME" },
    filter: { type: "string", short: "f", multiple: true, value: "KEY=VALUE", description: "type=, event=, image=, container=" },
    format: { type: "string", value: "FORMAT", description: "json: one JSON object per line" },
    stream: { type: "string", value: "BOOL", description: "false: print the events so far and exit" }
  },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const now = Date.now()
    const since = typeof opts["since"] === "string" ? parseWhen(opts["since"], now) : undefined
    const until = typeof opts["until"] === "string" ? parseWhen(opts["until"], now) : undefined
    const format = opts["format"]
    if (format !== undefined && format !== "json") throw new UsageError(`--format ${String(format)}: only json is supported here`, "events")
    const stream = opts["stream"]
    if (stream !== undefined && stream !== "true" && stream !== "false") throw new UsageError(`--stream ${String(stream)}: expected true or false`, "events")
    const filters = new Map<string, string[]>()
    for (const f of (opts["filter"] as string[] | undefined) ?? []) {
      const eq = f.indexOf("=")
      const key = f.slice(0, eq)
      if (eq < 1 || !(filterKeys as readonly string[]).includes(key)) throw new UsageError(`--filter ${f}: expected KEY=VALUE with KEY one of ${filterKeys.join(", ")}`, "events")
      filters.set(key, [...(filters.get(key) ?? []), f.slice(eq + 1)])
    }
    const matches = (e: Logged) => {
      const t = Date.parse(e.time)
      if (since !== undefined && t < since) return false
      if (until !== undefined && t >= until) return false
      const [kind, action] = e.type.split(".")
      const subject = (values: string[]) => values.some((v) => v === e.name || e.name?.startsWith(`${v}:`) || e.id === v || e.id.replace(/^sha256:/, "").startsWith(v.replace(/^sha256:/, "")))
      for (const [key, values] of filters) {
        if (key === "type" && !values.includes(kind ?? "")) return false
        if (key === "event" && !values.includes(action ?? "")) return false
        if ((key === "image" || key === "container") && (kind !== key || !subject(values))) return false
      }
      return true
    }
    const print = (e: Logged) => {
      if (!matches(e)) return
      if (format === "json") ctx.out.out.write(`${JSON.stringify(e)}\n`)
      else ctx.out.out.write(`${e.time} ${e.type.replace(".", " ")} ${e.id}${e.name ? ` (name=${e.name})` : ""}\n`)
    }

    const root = (await ctx.engine()).root
    const path = join(root, "events.log")
    let offset = 0
    let partial = ""
    const drain = async () => {
      const size = (await stat(path).catch(() => undefined))?.size ?? 0
      if (size < offset) offset = 0 // rotated to events.log.1: read the new file from its start
      if (size === offset) return
      const fh = await open(path, "r")
      try {
        const buf = Buffer.alloc(size - offset)
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset)
        offset += bytesRead
        const lines = (partial + buf.subarray(0, bytesRead).toString("utf8")).split("\n")
        partial = lines.pop() ?? ""
        for (const line of lines) {
          if (line.trim() === "") continue
          try {
            print(JSON.parse(line) as Logged)
          } catch {} // a damaged line is skipped, as a log reader does
        }
      } finally {
        await fh.close()
      }
    }
    await drain()
    if (stream === "false" || (until !== undefined && until <= Date.now())) return

    // follow: wake on every change of the root directory's entries (the log written, created or rotated)
    await new Promise<void>((resolve) => {
      let busy: Promise<void> = Promise.resolve()
      const watcher = watch(root, (_event, file) => {
        if (file === null || file.startsWith("events.log")) busy = busy.then(drain, drain)
      })
      busy = busy.then(drain, drain) // what was written before the watcher started
      const timer = until === undefined ? undefined : setTimeout(() => stop(), until - Date.now())
      const stop = () => {
        watcher.close()
        if (timer) clearTimeout(timer)
        process.off("SIGINT", stop)
        process.off("SIGTERM", stop)
        void busy.then(() => resolve())
      }
      process.once("SIGINT", stop)
      process.once("SIGTERM", stop)
    })
  }
})
