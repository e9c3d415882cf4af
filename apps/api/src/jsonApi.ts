// What the JSON API's endpoints do over the engine: one handler per endpoint of definition.ts,
// which holds their paths, parameters, bodies and answers (server.ts serves them through it).
import type { IncomingMessage } from "node:http"
import { PassThrough } from "node:stream"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { NodeStream } from "@effect/platform-node"
import { HttpServerResponse } from "effect/http"
import { limitedBody, readBody } from "./body.js"
import { buildFromTar } from "./build.js"
import { type EndpointName, type EndpointSuccess, type GroupName, VERSION } from "./definition.js"
import { ArchiveFormatError } from "@cairn/cas"
import { type ArchiveKind, EngineIOError } from "@cairn/engine"
import type { ServedEngine } from "./engineApi.js"
import { ApiError, BodyTooLargeError } from "./errors.js"
import type { EventHub } from "./events.js"
import { clientGaveUp, rawResponse } from "./responses.js"
import type * as S from "./schemas.js"

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
  /** where server-side failures are reported (ServerOptions.log) */
  readonly log: (line: string) => void
  /** the decoded JSON body (routes with a `request` schema) */
  readonly body: unknown
}

/**
 * What the server does for one endpoint of the definition. Its path, parameters, body and answer
 * are the endpoint's (definition.ts); this adds only the policy and the work.
 */
export interface Handler<A = unknown> {
  /** refused in read-only mode */
  readonly write: boolean
  /** served without the token (a liveness probe); answers nothing about the store */
  readonly open?: boolean
  /** the endpoint's result: its success value as the definition types it, or a response of its own (streams) */
  readonly run: (ctx: JsonContext) => Promise<A | HttpServerResponse.HttpServerResponse>
}

/**
 * One handler for every endpoint of every group: the compiler refuses a missing or an unknown one,
 * and a result that is not what the endpoint's schema says it answers (the engine's own types
 * against the documented ones).
 */
export type Handlers = {
  readonly [G in GroupName]: { readonly [E in EndpointName<G>]: Handler<EndpointSuccess<G, E>> }
}

const ARCHIVE_FORMATS: ReadonlySet<string> = new Set<ArchiveKind>(["oci-archive", "docker-archive"])

const param = (ctx: JsonContext, key: string): string => {
  const v = ctx.params[key]
  if (v === undefined || v === "") throw new ApiError({ status: 400, code: "BAD_REQUEST", reason: `missing path parameter ${key}` })
  return v
}

const flag = (ctx: JsonContext, key: string): boolean => {
  const v = ctx.query.get(key)
  return v === "1" || v === "true"
}

const archiveFormat = (ctx: JsonContext): ArchiveKind => {
  const f = ctx.query.get("format") ?? "oci-archive"
  if (!ARCHIVE_FORMATS.has(f)) throw new ApiError({ status: 400, code: "BAD_REQUEST", reason: `format must be oci-archive or docker-archive, not ${f}`, detail: { format: f } })
  return f as ArchiveKind
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

/** an error and its causes, outermost first: the engine wraps what failed beneath it */
const causes = function* (e: unknown): Generator<unknown> {
  for (let c = e, depth = 0; c !== undefined && c !== null && depth < 8; c = (c as { cause?: unknown }).cause, depth++) yield c
}

// the upload streams into the store as it arrives (cas stages each member, verified, and makes
// the image visible only once all of it checks out): nothing is spilled to a temp file first
const importImage = async (ctx: JsonContext) => {
  const kind = archiveFormat(ctx)
  const name = ctx.query.get("name") ?? undefined
  try {
    return await ctx.engine.importImage({ kind, read: limitedBody(ctx.req, ctx.limits.maxImportBytes), label: `the uploaded ${kind}` }, name)
  } catch (e) {
    const chain = [...causes(e)]
    const tooLarge = chain.find((c) => c instanceof BodyTooLargeError)
    if (tooLarge) throw new ApiError({ status: 413, code: "BODY_TOO_LARGE", reason: tooLarge.message, detail: { limit: tooLarge.limit } })
    // the client went away: the guard answers that, not as a broken archive
    if (chain.some((c) => clientGaveUp(c, ctx.req))) throw e
    // not an image archive, or one cut short: the upload is bad
    if (e instanceof ArchiveFormatError) throw new ApiError({ status: 400, code: "INVALID_ARCHIVE", reason: `the uploaded ${kind} could not be imported: ${e.reason}` })
    // an I/O failure without an errno came from reading the archive itself: the upload is bad too
    const cause = e instanceof EngineIOError ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined
    if (e instanceof EngineIOError && cause?.code === undefined) {
      const why = typeof cause?.message === "string" ? cause.message : e.message
      throw new ApiError({ status: 400, code: "INVALID_ARCHIVE", reason: `the uploaded ${kind} could not be imported: ${why}` })
    }
    throw e
  }
}

// the archive is written into the response as it is made (chunked); the image is looked up
// first, so a missing one is a 404 rather than a broken download
const exportImage = async (ctx: JsonContext) => {
  const kind = archiveFormat(ctx)
  const image = param(ctx, "image")
  await ctx.engine.inspectImage(image)
  const body = new PassThrough()
  ctx.engine.exportImage(image, { kind, write: body, label: "the download" }).catch((e: unknown) => {
    // the client went away (the response destroyed the stream): nothing to report
    if (body.destroyed) return
    // headers are gone by now: the client sees the transfer cut short, the log says why
    ctx.log(`cairn-api: export of ${image} failed mid-stream: ${e instanceof Error ? e.message : String(e)}`)
    body.destroy(e instanceof Error ? e : new Error(String(e)))
  })
  // raw, as blob downloads: the response watch closes it when the client stops reading
  return rawResponse(body, {
    status: 200,
    headers: { "Content-Type": "application/x-tar", "Content-Disposition": `attachment; filename="image-${kind}.tar"` }
  })
}

const read = <A>(run: Handler<A>["run"]): Handler<A> => ({ write: false, run })
const write = <A>(run: Handler<A>["run"]): Handler<A> => ({ write: true, run })

export const handlers: Handlers = {
  system: {
    health: { write: false, open: true, run: async () => ({ ok: true }) },
    version: read(async (ctx) => ({
      name: "cairn-api",
      version: VERSION,
      api: "v1",
      node: process.version,
      readOnly: ctx.info.readOnly,
      uptimeSeconds: (Date.now() - ctx.info.startedAt) / 1000,
      uploads: ctx.info.uploads()
    }))
  },
  images: {
    list: read((ctx) => ctx.engine.listImages()),
    import: write(importImage),
    inspect: read((ctx) => ctx.engine.inspectImage(param(ctx, "image"))),
    history: read((ctx) => ctx.engine.history(param(ctx, "image"))),
    tag: write(async (ctx) => {
      await ctx.engine.tag(param(ctx, "image"), (ctx.body as typeof S.TagRequest.Type).name)
    }),
    export: { write: false, run: exportImage },
    remove: write(async (ctx) => {
      const r = await ctx.engine.removeImage(param(ctx, "image"), { force: flag(ctx, "force") })
      // the engine lists the manifest both as deleted and again among what the prune removed
      return { untagged: [...new Set(r.untagged)], deleted: [...new Set(r.deleted)] }
    })
  },
  containers: {
    list: read((ctx) => ctx.engine.listContainers()),
    create: write((ctx) => {
      const b = ctx.body as typeof S.CreateContainerRequest.Type
      return ctx.engine.createContainer(b.image, b.name === undefined ? {} : { name: b.name })
    }),
    mount: write(async (ctx) => ({ mountpoint: await ctx.engine.mountContainer(param(ctx, "id")) })),
    unmount: write((ctx) => ctx.engine.unmountContainer(param(ctx, "id"))),
    diff: read((ctx) => ctx.engine.diffContainer(param(ctx, "id"))),
    commit: write((ctx) => ctx.engine.commitContainer(param(ctx, "id"), { ...(ctx.body as typeof S.CommitRequest.Type) })),
    remove: write((ctx) => ctx.engine.removeContainer(param(ctx, "id"), { force: flag(ctx, "force") }))
  },
  store: {
    snapshots: read(async (ctx) => (await ctx.engine.df()).snapshots),
    df: read((ctx) => ctx.engine.df()),
    gc: write((ctx) => ctx.engine.prune({ dryRun: (ctx.body as typeof S.PruneRequest.Type).dryRun ?? false })),
    fsck: read((ctx) => ctx.engine.fsck({})),
    repair: write((ctx) => ctx.engine.fsck({ repair: (ctx.body as typeof S.FsckRequest.Type).repair ?? false }))
  },
  events: {
    // an effect Stream, not the raw Node stream: a client leaving mid-stream interrupts the
    // response, and the raw form puts the Node response into the interruption's cause, which
    // effect then walks (Node's DEP0066 warning)
    events: {
      write: false,
      run: async (ctx) =>
        HttpServerResponse.stream(NodeStream.fromReadable({ evaluate: () => ctx.events.open() }), {
          status: 200,
          contentType: "text/event-stream",
          headers: { "Cache-Control": "no-cache", "X-Accel-Buffering": "no" }
        })
    }
  },
  build: {
    build: write(buildFromTar)
  }
}
