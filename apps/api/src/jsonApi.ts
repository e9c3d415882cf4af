// The JSON endpoints over the engine. One table drives both the router and /openapi.json.
import { createReadStream } from "node:fs"
import { mkdtemp, rm, stat } from "node:fs/promises"
import type { IncomingMessage } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pipeline } from "node:stream/promises"
import { createWriteStream } from "node:fs"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { HttpServerResponse } from "effect/http"
import { limitedBody, readBody } from "./body.js"
import { buildRoute } from "./build.js"
import { EngineIOError } from "@cairn/engine"
import type { ServedEngine } from "./engineApi.js"
import { ApiError, BodyTooLargeError } from "./errors.js"
import type { EventHub } from "./events.js"
import * as S from "./schemas.js"

export interface JsonLimits {
  readonly maxJsonBytes: number
  readonly maxImportBytes: number
}

export interface JsonContext {
  readonly engine: ServedEngine
  readonly params: Readonly<Record<string, string | undefined>>
  readonly query: URLSearchParams
  readonly req: IncomingMessage
  readonly limits: JsonLimits
  readonly events: EventHub
  readonly info: { readonly startedAt: number; readonly readOnly: boolean; readonly uploads: () => number }
  /** the decoded JSON body (routes with a `request` schema) */
  readonly body: unknown
}

export type ResponseKind = { readonly schema: Schema.Top } | "binary" | "event-stream" | "none"

export interface JsonRoute {
  readonly method: "GET" | "POST" | "DELETE"
  /** router form: `/images/:image` */
  readonly path: `/${string}`
  readonly summary: string
  /** refused in read-only mode */
  readonly write: boolean
  /** served without the token (a liveness probe); answers nothing about the store */
  readonly open?: boolean
  readonly request?: Schema.Top
  readonly requestBinary?: string
  readonly query?: Readonly<Record<string, string>>
  readonly response: ResponseKind
  readonly status?: number
  readonly run: (ctx: JsonContext) => Promise<unknown>
}

export const VERSION = "0.1.0"

const ARCHIVE_FORMATS = new Set(["oci-archive", "docker-archive"])

const param = (ctx: JsonContext, key: string): string => {
  const v = ctx.params[key]
  if (v === undefined || v === "") throw new ApiError({ status: 400, code: "BAD_REQUEST", reason: `missing path parameter ${key}` })
  return v
}

const flag = (ctx: JsonContext, key: string): boolean => {
  const v = ctx.query.get(key)
  return v === "1" || v === "true"
}

const archiveFormat = (ctx: JsonContext): string => {
  const f = ctx.query.get("format") ?? "oci-archive"
  if (!ARCHIVE_FORMATS.has(f)) throw new ApiError({ status: 400, code: "BAD_REQUEST", reason: `format must be oci-archive or docker-archive, not ${f}`, detail: { format: f } })
  return f
}

/** Decode a JSON request body with its schema: malformed JSON and schema failures are 400s. */
export const decodeJsonBody = async (req: IncomingMessage, schema: Schema.Top, limit: number): Promise<unknown> => {
  let bytes: Buffer
  try {
    bytes = await readBody(req, limit)
  } catch (e) {
    if (e instanceof BodyTooLargeError) throw new ApiError({ status: 413, code: "BODY_TOO_LARGE", reason: e.message, detail: { limit } })
    throw e
  }
  let json: unknown
  try {
    json = bytes.length === 0 ? {} : JSON.parse(bytes.toString("utf8"))
  } catch (e) {
    throw new ApiError({ status: 400, code: "MALFORMED_JSON", reason: `request body is not valid JSON: ${(e as Error).message}` })
  }
  const r = Schema.decodeUnknownResult(schema as Schema.Codec<unknown>)(json, { errors: "all", onExcessProperty: "error" })
  if (Result.isFailure(r)) throw new ApiError({ status: 400, code: "INVALID_REQUEST", reason: r.failure.message })
  return r.success
}

/** A temp directory removed when `f` is done with it (or, for streams, when the stream closes). */
const withTempDir = async <T>(f: (dir: string) => Promise<T>): Promise<T> => {
  const dir = await mkdtemp(join(tmpdir(), "cairn-api-"))
  try {
    return await f(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const importImage = async (ctx: JsonContext) => {
  const format = archiveFormat(ctx)
  const name = ctx.query.get("name") ?? undefined
  return withTempDir(async (dir) => {
    const file = join(dir, "image.tar")
    try {
      await pipeline(limitedBody(ctx.req, ctx.limits.maxImportBytes), createWriteStream(file))
    } catch (e) {
      if (e instanceof BodyTooLargeError) throw new ApiError({ status: 413, code: "BODY_TOO_LARGE", reason: e.message, detail: { limit: e.limit } })
      throw e
    }
    try {
      return await ctx.engine.importImage(`${format}:${file}`, name)
    } catch (e) {
      // an I/O failure without an errno came from reading the archive itself: the upload is bad
      const cause = e instanceof EngineIOError ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined
      if (e instanceof EngineIOError && cause?.code === undefined) {
        // name the upload, not the temp file it was staged in or the root it went to
        const why = typeof cause?.message === "string" ? cause.message : e.message
        throw new ApiError({ status: 400, code: "INVALID_ARCHIVE", reason: `the uploaded ${format} could not be imported: ${why}` })
      }
      throw e
    }
  })
}

const exportImage = async (ctx: JsonContext) => {
  const format = archiveFormat(ctx)
  const image = param(ctx, "image")
  const dir = await mkdtemp(join(tmpdir(), "cairn-api-"))
  try {
    const file = join(dir, "image.tar")
    await ctx.engine.exportImage(image, `${format}:${file}`)
    const { size } = await stat(file)
    const stream = createReadStream(file)
    stream.on("close", () => void rm(dir, { recursive: true, force: true }))
    return HttpServerResponse.raw(stream, {
      status: 200,
      headers: {
        "Content-Type": "application/x-tar",
        "Content-Length": String(size),
        "Content-Disposition": `attachment; filename="image-${format}.tar"`
      }
    })
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
}

const json = (schema: Schema.Top): ResponseKind => ({ schema })

export const jsonRoutes: ReadonlyArray<JsonRoute> = [
  {
    method: "GET",
    path: "/health",
    summary: "Liveness: the service answers (no token needed; says nothing else)",
    write: false,
    open: true,
    response: json(S.Health),
    run: async () => ({ ok: true })
  },
  {
    method: "GET",
    path: "/version",
    summary: "Service and API version, uptime and open upload sessions",
    write: false,
    response: json(S.Version),
    run: async (ctx) => ({
      name: "cairn-api",
      version: VERSION,
      api: "v1",
      node: process.version,
      readOnly: ctx.info.readOnly,
      uptimeSeconds: (Date.now() - ctx.info.startedAt) / 1000,
      uploads: ctx.info.uploads()
    })
  },
  // ---- images
  { method: "GET", path: "/images", summary: "List images", write: false, response: json(Schema.Array(S.ImageSummary)), run: (ctx) => ctx.engine.listImages() },
  {
    method: "POST",
    path: "/images/import",
    summary: "Import an image from an oci-archive or docker-archive tar sent as the request body",
    write: true,
    requestBinary: "application/x-tar",
    query: { format: "oci-archive (default) or docker-archive", name: "name[:tag] to give the image" },
    response: json(S.ImageSummary),
    status: 201,
    run: importImage
  },
  {
    method: "GET",
    path: "/images/:image",
    summary: "Inspect an image (name[:tag], digest or unique hex prefix; URL-encode '/' and ':')",
    write: false,
    response: json(S.ImageInspect),
    run: (ctx) => ctx.engine.inspectImage(param(ctx, "image"))
  },
  {
    method: "GET",
    path: "/images/:image/history",
    summary: "Image history, newest first",
    write: false,
    response: json(Schema.Array(S.HistoryRow)),
    run: (ctx) => ctx.engine.history(param(ctx, "image"))
  },
  {
    method: "POST",
    path: "/images/:image/tag",
    summary: "Give an image another name",
    write: true,
    request: S.TagRequest,
    response: "none",
    status: 204,
    run: async (ctx) => {
      await ctx.engine.tag(param(ctx, "image"), (ctx.body as typeof S.TagRequest.Type).name)
    }
  },
  {
    method: "GET",
    path: "/images/:image/export",
    summary: "Download an image as an oci-archive or docker-archive tar",
    write: false,
    query: { format: "oci-archive (default) or docker-archive" },
    response: "binary",
    run: exportImage
  },
  {
    method: "DELETE",
    path: "/images/:image",
    summary: "Remove an image (untag; delete when no name is left)",
    write: true,
    query: { force: "1 to remove even when containers use it" },
    response: json(S.RemoveImageResult),
    run: async (ctx) => {
      const r = (await ctx.engine.removeImage(param(ctx, "image"), { force: flag(ctx, "force") })) as { untagged: string[]; deleted: string[] }
      // the engine lists the manifest both as deleted and again among what the prune removed
      return { untagged: [...new Set(r.untagged)], deleted: [...new Set(r.deleted)] }
    }
  },
  // ---- containers
  { method: "GET", path: "/containers", summary: "List containers", write: false, response: json(Schema.Array(S.ContainerSummary)), run: (ctx) => ctx.engine.listContainers() },
  {
    method: "POST",
    path: "/containers",
    summary: "Create a container (a writable layer over an image)",
    write: true,
    request: S.CreateContainerRequest,
    response: json(S.ContainerSummary),
    status: 201,
    run: (ctx) => {
      const b = ctx.body as typeof S.CreateContainerRequest.Type
      return ctx.engine.createContainer(b.image, b.name === undefined ? {} : { name: b.name })
    }
  },
  {
    method: "POST",
    path: "/containers/:id/mount",
    summary: "Mount a container's root filesystem",
    write: true,
    response: json(S.Mountpoint),
    run: async (ctx) => ({ mountpoint: await ctx.engine.mountContainer(param(ctx, "id")) })
  },
  {
    method: "POST",
    path: "/containers/:id/unmount",
    summary: "Unmount a container",
    write: true,
    response: "none",
    status: 204,
    run: (ctx) => ctx.engine.unmountContainer(param(ctx, "id"))
  },
  {
    method: "GET",
    path: "/containers/:id/diff",
    summary: "Changes in a container's writable layer",
    write: false,
    response: json(Schema.Array(S.Change)),
    run: (ctx) => ctx.engine.diffContainer(param(ctx, "id"))
  },
  {
    method: "POST",
    path: "/containers/:id/commit",
    summary: "Commit a container's changes as a new image",
    write: true,
    request: S.CommitRequest,
    response: json(S.ImageSummary),
    status: 201,
    run: (ctx) => {
      const b = ctx.body as typeof S.CommitRequest.Type
      return ctx.engine.commitContainer(param(ctx, "id"), { ...b })
    }
  },
  {
    method: "DELETE",
    path: "/containers/:id",
    summary: "Remove a container",
    write: true,
    query: { force: "1 to unmount first" },
    response: "none",
    status: 204,
    run: (ctx) => ctx.engine.removeContainer(param(ctx, "id"), { force: flag(ctx, "force") })
  },
  // ---- space and maintenance
  {
    method: "GET",
    path: "/snapshots",
    summary: "Extracted layer snapshots with their size and users",
    write: false,
    response: json(Schema.Array(S.SnapshotUsage)),
    run: async (ctx) => ((await ctx.engine.df()) as { snapshots?: unknown }).snapshots ?? []
  },
  { method: "GET", path: "/df", summary: "Disk usage", write: false, response: json(S.DiskUsage), run: (ctx) => ctx.engine.df() },
  {
    method: "POST",
    path: "/gc",
    summary: "Remove unreferenced blobs, snapshots and debris",
    write: true,
    request: S.PruneRequest,
    response: json(S.PruneResult),
    run: (ctx) => ctx.engine.prune({ dryRun: (ctx.body as typeof S.PruneRequest.Type).dryRun ?? false })
  },
  { method: "GET", path: "/fsck", summary: "Check the store (read only)", write: false, response: json(S.FsckReport), run: (ctx) => ctx.engine.fsck({}) },
  {
    method: "POST",
    path: "/fsck",
    summary: "Check the store, repairing what can be repaired when repair is true",
    write: true,
    request: S.FsckRequest,
    response: json(S.FsckReport),
    run: (ctx) => ctx.engine.fsck({ repair: (ctx.body as typeof S.FsckRequest.Type).repair ?? false })
  },
  {
    method: "GET",
    path: "/events",
    summary: "Server-sent events: `progress` (bytes per layer/blob) and `lifecycle` (image/container changes)",
    write: false,
    response: "event-stream",
    run: async (ctx) =>
      HttpServerResponse.raw(ctx.events.open(), {
        status: 200,
        headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no" }
      })
  },
  buildRoute
]
