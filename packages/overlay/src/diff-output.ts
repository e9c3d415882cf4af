import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createWriteStream } from "node:fs"
import { open, rename, rm } from "node:fs/promises"
import { dirname, basename, join } from "node:path"
import { Duplex, PassThrough, type Transform, type Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import * as zlib from "node:zlib"
import { createHasher, type Digest, hashingStream } from "@cairn/digest"
import type { Compression } from "./compression.js"
import { LayerWriteError, type TarBodySizeError, type TarHeaderError, type TarWriterClosedError, ZstdUnavailableError } from "./errors.js"
import { TarWriter } from "./tar/writer.js"

/** Compression of a written layer blob (the same names the reader detects). */
export type LayerCompression = Compression

/** OCI layer media types (image-spec media-types.md). */
export const LAYER_MEDIA_TYPES: Record<LayerCompression, string> = {
  none: "application/vnd.oci.image.layer.v1.tar",
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd"
}

/** What a written layer is, ready for a manifest descriptor and the config's rootfs.diff_ids. */
export interface LayerResult {
  /** sha256 of the uncompressed tar (image-spec config.md, rootfs.diff_ids) */
  diffId: Digest
  /** sha256 of the blob as written (compressed bytes) */
  digest: Digest
  /** blob size in bytes */
  size: number
  mediaType: string
  compression: LayerCompression
}

export interface LayerOutputOptions {
  /** default "gzip" */
  compression?: LayerCompression
  /** gzip 1-9 (default 6) or zstd 1-19 (default 3) */
  level?: number
  /** the zstd command used where node:zlib has no zstd (default "zstd" on PATH) */
  zstdCommand?: string
}

/** How mtimes are normalized in written layers. */
export interface MtimeOptions {
  /** every entry gets this mtime (seconds since the epoch) */
  mtime?: number
  /** mtimes later than this are clamped to it; default: the SOURCE_DATE_EPOCH environment variable */
  clampMtime?: number
}

/** Apply a fixed mtime or clamping (reproducible-builds.org SOURCE_DATE_EPOCH: clamp, never raise). */
export function normalizeMtime(seconds: number, options: MtimeOptions): number {
  if (options.mtime !== undefined) return options.mtime
  const env = process.env.SOURCE_DATE_EPOCH?.trim()
  const clamp = options.clampMtime ?? (env !== undefined && /^\d+$/u.test(env) ? Number(env) : undefined)
  return clamp !== undefined && seconds > clamp ? clamp : seconds
}

/** What writing a layer can fail with: the writer's own errors plus whatever the producer threw (typed). */
export type LayerWriteFailure =
  | LayerWriteError
  | ZstdUnavailableError
  | TarBodySizeError
  | TarHeaderError
  | TarWriterClosedError

type ZstdFactory = (options: { params: Record<number, number> }) => Transform
const nativeZstd = (zlib as unknown as { createZstdCompress?: ZstdFactory }).createZstdCompress
/** Whether node:zlib can write zstd here (Node >= 22.15); otherwise the zstd command is used. */
export const nativeZstdCompress = typeof nativeZstd === "function"
const zstdCommands = new Map<string, boolean>()

function zstdCompressor(level: number, command: string): Transform {
  if (nativeZstd !== undefined) {
    const params = (zlib.constants as unknown as Record<string, number>).ZSTD_c_compressionLevel
    return nativeZstd({ params: params === undefined ? {} : { [params]: level } })
  }
  let usable = zstdCommands.get(command)
  if (usable === undefined) {
    usable = spawnSync(command, ["--version"], { stdio: "ignore" }).status === 0
    zstdCommands.set(command, usable)
  }
  if (!usable) throw new ZstdUnavailableError({ reason: `node:zlib has no createZstdCompress and the command ${JSON.stringify(command)} does not run` })
  // -T1: single-threaded output is the same on every machine (multi-threaded framing may differ)
  const child: ChildProcess = spawn(command, [`-${level}`, "-T1", "-q", "-c", "--no-progress"], {
    stdio: ["pipe", "pipe", "pipe"]
  })
  const stderr: Buffer[] = []
  child.stderr?.on("data", (c: Buffer) => stderr.push(c))
  const duplex = Duplex.from({ writable: child.stdin!, readable: child.stdout! }) as Duplex
  child.on("close", (code) => {
    if (code !== 0) duplex.destroy(new ZstdUnavailableError({ reason: `zstd exited ${code}: ${Buffer.concat(stderr).toString().trim()}` }))
  })
  child.on("error", (e) => duplex.destroy(new ZstdUnavailableError({ reason: e.message })))
  duplex.on("close", () => {
    if (child.exitCode === null) child.kill()
  })
  return duplex as unknown as Transform
}

function compressor(compression: LayerCompression, level: number | undefined, zstdCommand: string): Transform {
  switch (compression) {
    case "gzip":
      // node:zlib writes mtime 0 and a fixed OS byte: the output depends on the input only
      return zlib.createGzip({ level: level ?? 6 })
    case "zstd":
      return zstdCompressor(level ?? 3, zstdCommand)
    case "none":
      return new PassThrough()
  }
}

/**
 * Stream a tar produced by `produce` through diffID hashing, compression and blob hashing into
 * `out`: a Writable (ended when done), or a file path written as temp + fsync + rename so a
 * partial layer never appears under that name.
 */
export async function writeLayer(
  out: Writable | string,
  produce: (writer: TarWriter) => Promise<void>,
  options: LayerOutputOptions = {}
): Promise<LayerResult> {
  const compression = options.compression ?? "gzip"
  const destination = typeof out === "string" ? out : "stream"
  const comp = compressor(compression, options.level, options.zstdCommand ?? "zstd") // throws ZstdUnavailableError before anything is written
  const diffHasher = await createHasher("sha256")
  const blobHasher = await createHasher("sha256")
  const tar = new PassThrough()
  const writer = new TarWriter(tar)

  let tmp: string | undefined
  let sink: Writable
  if (typeof out === "string") {
    tmp = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString("hex")}.tmp`)
    sink = createWriteStream(tmp, { flags: "wx", mode: 0o644 })
  } else sink = out

  const flowing = pipeline(tar, hashingStream(diffHasher), comp, hashingStream(blobHasher), sink)
  // the output can fail while produce() still runs: handled now, awaited (and reported) below
  flowing.catch(() => undefined)
  let failure: unknown
  try {
    await produce(writer)
    await writer.finish()
  } catch (e) {
    failure = e
    tar.destroy(e instanceof Error ? e : new Error(String(e)))
  }
  try {
    await flowing
  } catch (e) {
    failure ??= e
  }
  try {
    if (failure === undefined && tmp !== undefined) {
      const handle = await open(tmp, "r+")
      try {
        await handle.sync() // durable before it becomes visible under its name
      } finally {
        await handle.close()
      }
      await rename(tmp, out as string)
      tmp = undefined
    }
  } catch (e) {
    failure ??= e
  } finally {
    if (tmp !== undefined) await rm(tmp, { force: true })
  }
  if (failure !== undefined) {
    if (failure instanceof Error && "_tag" in failure) throw failure
    throw new LayerWriteError({ destination, reason: failure instanceof Error ? failure.message : String(failure) })
  }
  return {
    diffId: diffHasher.digest(),
    digest: blobHasher.digest(),
    size: blobHasher.bytes,
    mediaType: LAYER_MEDIA_TYPES[compression],
    compression
  }
}
