// docker's names for archive transfer: `cairn save` (export to an archive file or stdout) and
// `cairn load` (import an archive from a file or stdin, its kind found from its content).
import { createReadStream, createWriteStream } from "node:fs"
import { mkdtemp, open, rename, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PassThrough, type Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { createGunzip } from "node:zlib"
import { command } from "../command.js"
import { UsageError } from "../errors.js"

const formats = ["docker-archive", "oci-archive"] as const

/** A private temporary directory, removed after `use` whatever happens. */
async function withTempDir<A>(use: (dir: string) => Promise<A>): Promise<A> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-archive-"))
  try {
    return await use(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

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

/** Copies `input` to `dest`, gunzipped when it is gzip-compressed (`raw` holds the bytes as they came). */
async function spoolPlain(input: Readable, dest: string, raw: string): Promise<void> {
  await pipeline(input, createWriteStream(raw))
  const fh = await open(raw, "r")
  const magic = Buffer.alloc(2)
  try {
    await fh.read(magic, 0, 2, 0)
  } finally {
    await fh.close()
  }
  if (magic[0] === 0x1f && magic[1] === 0x8b) await pipeline(createReadStream(raw), createGunzip(), createWriteStream(dest))
  else await rename(raw, dest)
}

/** `oci-archive:-[:REF]`, `docker-archive:-[:REF]` or a bare `-`: the archive is stdin/stdout. */
export function stdioArchive(location: string): { kind?: "oci-archive" | "docker-archive"; suffix: string } | undefined {
  if (location === "-") return { suffix: "" }
  const m = /^(oci-archive|docker-archive):-(:.*)?$/.exec(location)
  return m ? { kind: m[1] as "oci-archive" | "docker-archive", suffix: m[2] ?? "" } : undefined
}

/** Runs `use` with a plain tar of stdin (gunzipped if need be) and its kind, removed afterwards. */
export async function withStdinArchive<A>(kind: "oci-archive" | "docker-archive" | undefined, use: (location: string) => Promise<A>): Promise<A> {
  if (process.stdin.isTTY) throw new UsageError("no archive on stdin: redirect stdin, or name a file")
  return withTempDir(async (dir) => {
    // archives need random access (a docker archive's manifest.json may come after its layers):
    // stdin is spooled to a private file first
    const path = join(dir, "image.tar")
    await spoolPlain(process.stdin, path, join(dir, "stdin"))
    const found = kind ?? (await archiveKind(path))
    if (found === undefined) throw new Error("cannot load from stdin: not an image archive (no oci-layout or manifest.json in it; truncated, or a plain filesystem tar?)")
    return use(`${found}:${path}`)
  })
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
    const img =
      typeof file !== "string"
        ? await withStdinArchive(undefined, (location) => engine.importImage(location))
        : await withTempDir(async (dir) => {
            let path = file
            let kind = await archiveKind(path)
            if (kind === undefined) {
              // not a plain archive: perhaps a gzip-compressed one
              path = join(dir, "image.tar")
              await spoolPlain(createReadStream(file), path, join(dir, "raw"))
              kind = await archiveKind(path)
            }
            if (kind === undefined) throw new Error(`cannot load from ${file}: not an image archive (no oci-layout or manifest.json in it; truncated, or a plain filesystem tar?)`)
            return engine.importImage(`${kind}:${path}`)
          })
    const names = img.names ?? []
    ctx.out.result(
      img,
      () => (names.length > 0 ? names.map((n) => `Loaded image: ${n}`).join("\n") : `Loaded image ID: ${img.digest}`),
      () => [img.digest]
    )
  }
})
