import { readFileSync } from "node:fs"
import type { Writable } from "node:stream"
import { parseArgs } from "node:util"
import type { DriverChoice, Engine } from "@cairn/engine"
import type { Command, Context, OptionSpec } from "./command.js"
import { commands } from "./commands/index.js"
import { UsageError } from "./errors.js"
import { makeOutput } from "./output.js"
import { isProgressMode, ProgressBars } from "./progress.js"

/** --driver names (overlay = kernel, fuse-overlayfs = fuse), checked before the engine opens */
const DRIVERS = ["auto", "overlay", "kernel", "rootless", "fuse-overlayfs", "fuse", "copy"]

export const globalOptions: Record<string, OptionSpec> = {
  root: { type: "string", value: "DIR", description: "engine root (default: $CAIRN_ROOT, else /var/lib/cairn as root, else ~/.local/share/cairn)" },
  driver: { type: "string", value: "NAME", description: "mount driver: auto, overlay, rootless, fuse-overlayfs, copy (default auto)" },
  hasher: { type: "string", value: "wasm|native", description: "sha256 core: cairn's WASM kernel (default) or node:crypto (default: $CAIRN_HASHER)" },
  json: { type: "boolean", description: "machine-readable JSON output" },
  progress: { type: "string", value: "MODE", description: "auto (bars on a TTY, else plain), tty, plain (a line per blob change), json, none" },
  quiet: { type: "boolean", short: "q", description: "print only IDs, one per line (images, ps, create, commit, pull, import, copy)" },
  debug: { type: "boolean", description: "print stack traces of errors" },
  help: { type: "boolean", short: "h", description: "show help" },
  version: { type: "boolean", description: "print the version" }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
  return pkg.version
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""}`
    return `  ${flag.padEnd(28)} ${o.description}`
  })
}

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    "cairn — container storage: OCI images, shared layer snapshots, overlay containers, commit, registries",
    "",
    "Usage: cairn [--root DIR] [--json] [--quiet] COMMAND [ARGS...]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Global options:",
    ...optionLines(globalOptions),
    "",
    "Examples:",
    "  cairn import docker-archive:busybox.tar busybox",
    "  id=$(cairn create busybox) && cd $(cairn mount $id)",
    "  cairn commit -m 'configured' $id myimage:v2 && cairn history myimage:v2",
    "",
    "Run `cairn COMMAND --help` for a command's options and examples. NO_COLOR turns colors off."
  ].join("\n")
}

export function commandUsage(c: Command): string {
  return [
    `Usage: cairn ${c.name}${c.options ? " [OPTIONS]" : ""}${c.usage ? ` ${c.usage}` : ""}`,
    "",
    c.summary,
    ...(c.description ? ["", c.description] : []),
    ...(c.options ? ["", "Options:", ...optionLines(c.options)] : []),
    "",
    "Examples:",
    ...c.examples.map((e) => `  ${e}`)
  ].join("\n")
}

/** One readable line for an error: its message, and its cause's when that adds something. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e)
  let msg = e.message || (e as { _tag?: string })._tag || e.name
  const cause = (e as { cause?: unknown }).cause
  if (cause instanceof Error && cause.message && !msg.includes(cause.message)) msg += `: ${cause.message}`
  return msg.replace(/\s*\n\s*/g, " ")
}

export interface MainIO {
  readonly stdout?: Writable
  readonly stderr?: Writable
}

/** Runs the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: readonly string[], io: MainIO = {}): Promise<number> {
  // global options come before the command word; the command parser accepts them after it too
  let i = 0
  while (i < argv.length && argv[i]!.startsWith("-")) {
    const name = argv[i]!.replace(/^--?/, "").split("=")[0]!
    const spec = Object.entries(globalOptions).find(([n, o]) => n === name || o.short === name)?.[1]
    i += spec?.type === "string" && !argv[i]!.includes("=") ? 2 : 1
  }
  const name = argv[i]
  const rest = [...argv.slice(0, i), ...argv.slice(i + 1)]
  const cmd = commands.find((c) => c.name === name)
  const parseOptions = { ...globalOptions, ...(cmd?.options ?? {}) }
  let values: Record<string, string | boolean | string[] | undefined>
  let positionals: string[]
  const streams = { ...(io.stdout ? { out: io.stdout } : {}), ...(io.stderr ? { err: io.stderr } : {}) }
  const early = makeOutput({ json: false, quiet: false, ...streams })
  try {
    const parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(
        Object.entries(parseOptions).map(([n, o]) => [n, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }])
      ),
      allowPositionals: true,
      strict: true
    })
    values = parsed.values as typeof values
    positionals = parsed.positionals
  } catch (e) {
    early.err.write(`cairn${name ? ` ${name}` : ""}: ${describeError(e)}\nRun 'cairn${cmd ? ` ${cmd.name}` : ""} --help' for usage.\n`)
    return 2
  }
  const out = makeOutput({ json: Boolean(values["json"]), quiet: Boolean(values["quiet"]), ...streams })
  if (values["version"] && !cmd) {
    out.result({ version: version(), node: process.version }, () => `cairn ${version()} (node ${process.version})`)
    return 0
  }
  if (name === undefined || name === "help") {
    const topic = commands.find((c) => c.name === positionals[0])
    out.out.write(`${topic ? commandUsage(topic) : usage()}\n`)
    return name === undefined && !values["help"] ? 2 : 0
  }
  if (!cmd) {
    out.err.write(`cairn: unknown command "${name}"\nRun 'cairn --help' for the list of commands.\n`)
    return 2
  }
  if (values["help"]) {
    out.out.write(`${commandUsage(cmd)}\n`)
    return 0
  }
  if (positionals.length < cmd.args.min || positionals.length > cmd.args.max) {
    const want = cmd.args.min === cmd.args.max ? `${cmd.args.min}` : cmd.args.max === Number.POSITIVE_INFINITY ? `at least ${cmd.args.min}` : `${cmd.args.min} to ${cmd.args.max}`
    out.err.write(`cairn ${cmd.name}: expected ${want} argument${cmd.args.max === 1 ? "" : "s"} (${cmd.usage || "none"}), got ${positionals.length}\nRun 'cairn ${cmd.name} --help' for usage.\n`)
    return 2
  }

  let engine: Engine | undefined
  const root = typeof values["root"] === "string" ? values["root"] : undefined
  const driver = typeof values["driver"] === "string" ? values["driver"] : undefined
  if (driver !== undefined && !DRIVERS.includes(driver)) {
    out.err.write(`cairn ${cmd.name}: unknown --driver "${driver}": one of ${DRIVERS.join(", ")}\nRun 'cairn --help' for usage.\n`)
    return 2
  }
  const mode = typeof values["progress"] === "string" ? values["progress"] : "auto"
  if (!isProgressMode(mode)) {
    out.err.write(`cairn ${cmd.name}: unknown --progress "${mode}": one of auto, tty, plain, json, none\nRun 'cairn --help' for usage.\n`)
    return 2
  }
  const progress = new ProgressBars(out, mode)
  const hasher = values["hasher"] === "node" ? "native" : values["hasher"]
  if (hasher !== undefined && hasher !== "wasm" && hasher !== "native") {
    out.err.write(`cairn ${cmd.name}: --hasher must be wasm or native, got "${hasher}"\nRun 'cairn ${cmd.name} --help' for usage.\n`)
    return 2
  }
  const ctx: Context = {
    out,
    progress,
    root,
    debug: Boolean(values["debug"]),
    async engine() {
      if (!engine) {
        // loaded here, not at start-up: --help and usage errors never pay for the engine and effect
        const { Engine } = await import("@cairn/engine")
        engine = await Engine.open({
          ...(root === undefined ? {} : { root }),
          ...(driver === undefined ? {} : { driver: driver as DriverChoice }),
          ...(hasher === undefined ? {} : { hasher })
        })
        engine.on("progress", (e) => progress.update(e))
      }
      return engine
    }
  }
  try {
    await cmd.run(ctx, positionals, values)
    return typeof process.exitCode === "number" ? process.exitCode : 0
  } catch (e) {
    // the reader went away (`cairn cat … | head`): stop quietly, as other tools do
    if ((e as { code?: unknown })?.code === "EPIPE") return 0
    if (e instanceof UsageError) {
      out.err.write(`cairn ${cmd.name}: ${e.message}\nRun 'cairn ${cmd.name} --help' for usage.\n`)
      return 2
    }
    out.err.write(`cairn ${cmd.name}: ${describeError(e)}\n`)
    if (ctx.debug && e instanceof Error && e.stack) out.err.write(`${e.stack}\n`)
    return 1
  } finally {
    await engine?.close()
  }
}
