// docker's names for archive transfer: `cairn save` (export to an archive file or stdout) and
// `cairn load` (import an archive from a file or stdin, its kind found from its content).
import { createReadStream, fstatSync } from "node:fs"
import { open } from "node:fs/promises"
import { PassThrough } from "node:stream"
import { pipeline } from "node:stream/promises"
import type { ArchiveReaderLocation } from "@cairn/engine"
import { command } from "../command.js"
import { UsageError } from "../errors.js"

const formats = ["docker-archive", "oci-archive"] as const

/**
 * The archive kind of the (plain) tar at `path`: an OCI layout has `oci-layout`, a docker
 * archive `manifest.json` (docker 25+ archives have both: read as OCI). Walks the headers only.
 */
export async function archiveKind(path: string): Promise<"oci-archive" | "docker-archive" | undefined> {
  const fh = await open(path, "r")
  try {
    const header = Buffer.alloc(512)
    let offset = 0
    let docker = false
    for (;;) {
      const { bytesRead } = await fh.read(header, 0, 512, offset)
      if (bytesRead < 512 || header.every((b) => b === 0)) break
      const field = (from: number, len: number) => header.subarray(from, from + len).toString("latin1").replace(/\0.*$/s, "")
      const name = (field(345, 155) ? `${field(345, 155)}/` : "") + field(0, 100)
      const size = Number.parseInt(field(124, 12).trim() || "0", 8)
      if (!Number.isFinite(size) || size < 0) return undefined
      const base = name.replace(/^\.\//, "")
      if (base === "oci-layout") return "oci-archive"
      if (base === "manifest.json") docker = true
      offset += 512 + Math.ceil(size / 512) * 512
    }
    return docker ? "docker-archive" : undefined
  } finally {
    await fh.close()
  }
}

/** `oci-archive:-[:REF]`, `docker-archive:-[:REF]` or a bare `-`: the archive is stdin/stdout. */
export function stdioArchive(location: string): { kind?: "oci-archive" | "docker-archive"; suffix: string } | undefined {
  if (location === "-") return { suffix: "" }
  const m = /^(oci-archive|docker-archive):-(:.*)?$/.exec(location)
  return m ? { kind: m[1] as "oci-archive" | "docker-archive", suffix: m[2] ?? "" } : undefined
}

/**
 * The archive on stdin (`-`, `oci-archive:-[:REF]`, `docker-archive:-[:REF]`) as a stream location:
 * each member goes into the store's verified ingest as it arrives, nothing is spooled first, and
 * cas gunzips it on the way if need be and finds its format from its members (`kind` only names it). An archive cut short
 * or not an image archive stores nothing; its error says it came from stdin.
 */
export function stdinArchive(kind: "oci-archive" | "docker-archive" | undefined, ref?: string): ArchiveReaderLocation {
  if (process.stdin.isTTY) throw new UsageError("no archive on stdin: redirect stdin, or name a file")
  // a file redirected to stdin is read in 1 MiB chunks (process.stdin reads it 64 KiB at a time);
  // a pipe is non-blocking, so it is read as process.stdin reads it
  const stdin = fstatSync(0).isFile() ? createReadStream("", { fd: 0, highWaterMark: 1 << 20, autoClose: false }) : process.stdin
  return { kind: kind ?? "docker-archive", read: stdin, label: "stdin", ...(ref === undefined ? {} : { ref }) }
}

/** What importing `from` failed with, saying where the archive came from when the failure is about the archive itself. */
export async function archiveFailure(from: string, e: unknown): Promise<unknown> {
  // the engine is loaded by then (it failed the import); importing it at the top would load it for every command
  const { isEngineError } = await import("@cairn/engine")
  if (isEngineError(e) && e._tag === "ArchiveFormatError") return new Error(`cannot load from ${from}: ${e.reason}`, { cause: e })
  return e
}

/**
 * Runs `write` with a stream that goes to `out` as the archive is made (no temporary file); `out`
 * itself is not ended (it is the process's stdout).
 */
export async function toStdout(out: NodeJS.WritableStream, write: (stream: PassThrough) => Promise<void>): Promise<void> {
  const stream = new PassThrough()
  const piping = pipeline(stream, out, { end: false })
  piping.catch(() => {})
  try {
    await write(stream)
  } catch (e) {
    stream.destroy()
    throw e
  }
  await piping
}

export const save = command({
  name: "save",
  summary: "Write an image to an archive (docker-archive by default) in a file or on stdout (like docker save)",
  usage: "IMAGE",
  examples: ["cairn save -o busybox.tar busybox", "cairn save busybox | ssh host cairn load", "cairn save --format oci-archive -o app.tar myapp:v1"],
  options: {
    output: { type: "string", short: "o", value: "FILE", description: "write to FILE instead of stdout" },
    format: { type: "string", value: "FORMAT", description: "docker-archive (default) or oci-archive" }
  },
  args: { min: 1, max: 1 },
  async run(ctx, [image], opts) {
    const format = typeof opts["format"] === "string" ? opts["format"] : "docker-archive"
    if (!(formats as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: expected docker-archive or oci-archive`, "save")
    const file = opts["output"]
    if (typeof file !== "string" && ctx.out.tty) throw new UsageError("refusing to write an archive to a terminal: use -o FILE or redirect stdout", "save")
    const engine = await ctx.engine()
    if (typeof file === "string") {
      await engine.exportImage(image!, `${format}:${file}`)
      ctx.out.info(`saved ${image} to ${file}`)
      return
    }
    await toStdout(ctx.out.out, (write) => engine.exportImage(image!, { kind: format as "oci-archive" | "docker-archive", write, label: "stdout" }))
  }
})

export const load = command({
  name: "load",
  summary: "Load an image from a docker-archive or oci-archive (optionally gzip-compressed) in a file or on stdin (like docker load)",
  usage: "",
  examples: ["cairn load -i busybox.tar", "cairn save busybox | cairn --root /other load", "gunzip -c app.tar.gz | cairn load"],
  options: { input: { type: "string", short: "i", value: "FILE", description: "read from FILE instead of stdin" } },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const file = opts["input"]
    if (typeof file !== "string" && process.stdin.isTTY) throw new UsageError("no archive on stdin: use -i FILE or redirect stdin", "load")
    const engine = await ctx.engine()
    // cas reads a file where it lies, or stdin as it arrives, gunzipping either on the way if need be
    const from = typeof file === "string" ? file : "stdin"
    const source = typeof file === "string" ? `${(await archiveKind(file)) ?? "docker-archive"}:${file}` : stdinArchive(undefined)
    const img = await engine.importImage(source).catch(async (e: unknown) => {
      throw await archiveFailure(from, e)
    })
    const names = img.names ?? []
    ctx.out.result(
      img,
      () => (names.length > 0 ? names.map((n) => `Loaded image: ${n}`).join("\n") : `Loaded image ID: ${img.digest}`),
      () => [img.digest]
    )
  }
})
