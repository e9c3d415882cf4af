// createServer(engine, options): the HTTP service, embeddable. effect's HttpRouter routes and
// NodeHttpServer serves; handlers are Promise functions over plain Node streams, wrapped once
// here with authentication, read-only checks, shutdown state and error bodies.
import * as http from "node:http"
import type { IncomingMessage } from "node:http"
import { tmpdir } from "node:os"
import { NodeHttpServer } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { challenge, presentedToken, SERVICE, TOKEN_REALM_PATH, tokenMatches } from "./auth.js"
import { Distribution } from "./distribution.js"
import type { ServedEngine } from "./engineApi.js"
import { ApiError, BodyStalledError, DistributionError } from "./errors.js"
import { EventHub } from "./events.js"
import { continuer, incoming, jsonApiLayer } from "./jsonRoutes.js"
import { openApiDocument } from "./openapi.js"
import { isJsonType, mediaType, refuseRequest } from "./policy.js"
import { BLOB_TYPES, clientGaveUp, errorResponse, pathScrubber, refuseListen } from "./responses.js"
import { watchRequestBody, watchResponseBody } from "./timeouts.js"
import { UploadSessions } from "./uploads.js"
import type { MirrorOptions } from "./v2/mirror.js"

export { pathScrubber, refuseListen } from "./responses.js"

export interface ServerOptions {
  /** serve /v2 as a pull-through cache of these upstream registries (see v2/mirror.ts) */
  readonly mirror?: MirrorOptions
  /** address to bind (default 127.0.0.1: nothing off this machine reaches the service unless asked) */
  readonly host?: string
  /** port (default 0: an ephemeral port, see `address`) */
  readonly port?: number
  /** when set, every request must present it (Bearer, or as the Basic password) */
  readonly token?: string
  /** refuse every write: 405 on /v2, 403 on the JSON API */
  readonly readOnly?: boolean
  /** JSON request bodies (default 1 MiB) */
  readonly maxJsonBytes?: number
  /** manifests pushed to /v2 (default 4 MiB, the size distribution-spec asks registries to accept) */
  readonly maxManifestBytes?: number
  /** one blob pushed to /v2 (default 8 GiB) */
  readonly maxBlobBytes?: number
  /** an archive sent to POST /images/import (default 8 GiB) */
  readonly maxImportBytes?: number
  /**
   * Blobs pushed to /v2 are held by a lease until a manifest referencing them arrives, or for
   * this long (default 1 hour), so garbage collection cannot take them between the two.
   */
  readonly uploadGraceMs?: number
  /** a connection must send its request headers within this time (default 60 s) */
  readonly headersTimeoutMs?: number
  /** an idle keep-alive connection is closed after this time (default 5 s) */
  readonly keepAliveTimeoutMs?: number
  /**
   * A request body that sends no byte for this long is aborted (default 60 s). It measures
   * progress, not total time: an upload may take hours as long as bytes keep arriving.
   */
  readonly bodyIdleTimeoutMs?: number
  /**
   * The URL clients reach the service at (e.g. https://registry.example:5000 behind a TLS proxy):
   * the token realm in 401 challenges and an allowed `Origin`. Default: the bound address.
   */
  readonly publicUrl?: string
  /** upload sessions idle this long are dropped (default 15 minutes) */
  readonly uploadTimeoutMs?: number
  /** open upload sessions at most (default 1024); more answer 429 */
  readonly maxUploadSessions?: number
  /** how long close() lets in-flight requests finish before abandoning them (default 10 s) */
  readonly shutdownTimeoutMs?: number
  /** where server-side failures (5xx) are reported, one line each (default stderr) */
  readonly log?: (line: string) => void
}

export interface ServerAddress {
  readonly host: string
  readonly port: number
  /** http://host:port */
  readonly url: string
}

export interface CairnServer {
  /** Bind and start serving; resolves with the bound address. */
  listen(): Promise<ServerAddress>
  /** Stop accepting, let in-flight requests finish (up to shutdownTimeoutMs), abandon upload sessions. Does not close the engine. */
  close(): Promise<void>
  /** the bound address once listening */
  readonly address: ServerAddress | undefined
  readonly uploads: UploadSessions
}

const MiB = 1 << 20
const GiB = 1 << 30

const safeHost = (h: string | undefined) => (h && /^[A-Za-z0-9.:[\]-]+$/.test(h) ? h : undefined)

export function createServer(engine: ServedEngine, options: ServerOptions = {}): CairnServer {
  const host = options.host ?? "127.0.0.1"
  const readOnly = options.readOnly ?? false
  const token = options.token !== undefined && options.token !== "" ? options.token : undefined
  const headersTimeoutMs = options.headersTimeoutMs ?? 60_000
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 5_000
  const bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? 60_000
  const publicUrl = options.publicUrl?.replace(/\/+$/, "")
  const scrub = pathScrubber([engine.root, tmpdir()])
  const limits = {
    maxJsonBytes: options.maxJsonBytes ?? MiB,
    maxManifestBytes: options.maxManifestBytes ?? 4 * MiB,
    maxBlobBytes: options.maxBlobBytes ?? 8 * GiB,
    maxImportBytes: options.maxImportBytes ?? 8 * GiB
  }
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const uploads = new UploadSessions(engine.store, engine.root, {
    timeoutMs: options.uploadTimeoutMs ?? 15 * 60_000,
    maxBytes: limits.maxBlobBytes,
    maxSessions: options.maxUploadSessions ?? 1024
  })
  const distribution = new Distribution(engine.store, uploads, { ...limits, uploadGraceMs: options.uploadGraceMs ?? 3_600_000, holdOnHead: !readOnly, ...(options.mirror ? { mirror: options.mirror } : {}) })
  let events: EventHub | undefined
  const startedAt = Date.now()
  let closing = false
  const inFlight = new Set<IncomingMessage>()
  let idle: (() => void) | undefined
  let address: ServerAddress | undefined
  const policy = { tokenRequired: token !== undefined, ownOrigins: publicUrl ? [new URL(publicUrl).origin] : [] }

  // where GET /token lives, as clients reach it: --public-url, else the bound address (the Host
  // header only when bound to every interface, where the address names no one host)
  const realmBase = (req: IncomingMessage): string => {
    if (publicUrl) return publicUrl
    if (address && address.host !== "0.0.0.0" && address.host !== "::") return address.url
    return `http://${safeHost(req.headers.host) ?? "127.0.0.1"}`
  }

  const watchBody = (req: IncomingMessage) => watchRequestBody(req, bodyIdleTimeoutMs)
  const watchSend = (req: IncomingMessage, res: HttpServerResponse.HttpServerResponse) => watchResponseBody(req, res, bodyIdleTimeoutMs, log)

  // every request passes here: shutdown state, auth, read-only, then the handler; errors become bodies
  const guard = async (
    req: IncomingMessage,
    v2: boolean,
    write: boolean,
    handler: () => Promise<HttpServerResponse.HttpServerResponse>,
    sendContinue?: () => void,
    open = false
  ): Promise<HttpServerResponse.HttpServerResponse> => {
    inFlight.add(req)
    const body = watchBody(req)
    try {
      if (closing) throw new ApiError({ status: 503, code: "SHUTTING_DOWN", reason: "the server is shutting down", headers: { Connection: "close" } })
      const refusal = refuseRequest(req, policy)
      if (refusal) throw new ApiError({ ...refusal, headers: { Connection: "close" } })
      if (token !== undefined && !open) {
        const given = presentedToken(req.headers)
        if (!given || !tokenMatches(given.token, token)) {
          throw new ApiError({
            status: 401,
            code: "UNAUTHORIZED",
            reason: given ? "the token presented is not valid" : "authentication required: send Authorization: Bearer <token>",
            headers: { "WWW-Authenticate": challenge(realmBase(req)) }
          })
        }
      }
      if (readOnly && write) {
        throw v2
          ? new DistributionError({ status: 405, code: "DENIED", reason: "this registry is read-only" })
          : new ApiError({ status: 403, code: "READ_ONLY", reason: "the server runs in read-only mode" })
      }
      // RFC 9110 10.1.1: a client that sent Expect: 100-continue waits for this before the body;
      // sent only once the request is authorised, so a refused upload never crosses the wire
      if (sendContinue && /100-continue/i.test(req.headers.expect ?? "")) sendContinue()
      const res = await handler()
      watchSend(req, res)
      return v2 ? HttpServerResponse.setHeader(res, "Docker-Distribution-API-Version", "registry/2.0") : res
    } catch (e) {
      if (clientGaveUp(e, req)) {
        // the client went away or stopped sending: one line, no stack; nothing it sent was kept
        const why = e instanceof BodyStalledError ? e.message : "the client closed the connection"
        log(`cairn-api: ${req.method} ${(req.url ?? "").split("?")[0]}: client aborted the request (${why}, ${req.socket?.bytesRead ?? 0} bytes read)`)
        const res = errorResponse(e instanceof BodyStalledError ? e : new ApiError({ status: 400, code: "CLIENT_ABORTED", reason: "the request was aborted by the client" }), v2)
        return HttpServerResponse.setHeader(res, "Connection", "close")
      }
      const res = errorResponse(e, v2, scrub)
      if (res.status >= 500 && res.status !== 503) log(`cairn-api: ${req.method} ${req.url} -> ${res.status}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
      return v2 ? HttpServerResponse.setHeader(res, "Docker-Distribution-API-Version", "registry/2.0") : res
    } finally {
      body.done()
      inFlight.delete(req)
      if (inFlight.size === 0) idle?.()
    }
  }

  const v2Handler = Effect.gen(function* () {
    const req = yield* incoming
    const url = req.url ?? "/"
    const q = url.indexOf("?")
    const path = q < 0 ? url : url.slice(0, q)
    const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1))
    const method = req.method ?? "GET"
    const write = method !== "GET" && method !== "HEAD"
    const sendContinue = yield* continuer
    return yield* Effect.promise(() =>
      guard(
        req,
        true,
        write,
        () => {
          const type = mediaType(req)
          if (write && type !== undefined && !BLOB_TYPES.has(type) && !(isJsonType(type) && /\/manifests\//.test(path))) {
            throw new DistributionError({
              status: 415,
              code: "UNSUPPORTED",
              reason: `Content-Type ${type} is not accepted here: blobs are application/octet-stream, manifests their JSON media type`
            })
          }
          return distribution.handle({ method, path, query, req })
        },
        sendContinue
      )
    )
  })

  const jsonApi = jsonApiLayer({
    guard,
    maxJsonBytes: limits.maxJsonBytes,
    context: () => ({ engine, limits, events: events as EventHub, info: { startedAt, readOnly, uploads: () => uploads.count }, log })
  })

  // GET /token: the Docker token flow; Basic credentials whose password is the token get it back
  const tokenHandler = Effect.gen(function* () {
    const req = yield* incoming
    return yield* Effect.promise(async () => {
      const refusal = refuseRequest(req, policy)
      if (refusal) return errorResponse(new DistributionError({ status: refusal.status, code: "DENIED", reason: refusal.reason }), true)
      const given = presentedToken(req.headers)
      if (token === undefined) return HttpServerResponse.jsonUnsafe({ token: "anonymous", access_token: "anonymous" })
      if (!given || !tokenMatches(given.token, token)) {
        return HttpServerResponse.jsonUnsafe(
          { errors: [{ code: "UNAUTHORIZED", message: "send the service token as the password of Basic credentials", detail: null }] },
          { status: 401, headers: { "WWW-Authenticate": `Basic realm="${SERVICE}"` } }
        )
      }
      return HttpServerResponse.jsonUnsafe({ token, access_token: token, expires_in: 3600 })
    })
  })

  // /v2 paths are matched by hand (names span segments), so they arrive at the catch-all route
  const fallback = Effect.gen(function* () {
    const req = yield* incoming
    const url = req.url ?? "/"
    if (url === "/v2" || url.startsWith("/v2/") || url.startsWith("/v2?")) return yield* v2Handler
    return yield* Effect.promise(() =>
      guard(req, false, false, async () => {
        throw new ApiError({ status: 404, code: "NOT_FOUND", reason: `no such endpoint: ${req.method} ${req.url}` })
      })
    )
  })

  const openapi = Effect.gen(function* () {
    const req = yield* incoming
    return yield* Effect.promise(() => guard(req, false, false, async () => HttpServerResponse.jsonUnsafe(openApiDocument())))
  })

  const routes = Layer.mergeAll(
    HttpRouter.add("GET", TOKEN_REALM_PATH, tokenHandler),
    HttpRouter.add("GET", "/openapi.json", openapi),
    jsonApi,
    HttpRouter.add("*", "/*", fallback)
  )

  let nodeServer: http.Server | undefined
  let runtime: ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown> | undefined

  return {
    uploads,
    get address() {
      return address
    },
    async listen() {
      if (address) return address
      const refused = refuseListen(host, token !== undefined)
      if (refused) throw new Error(refused)
      await uploads.start()
      events = new EventHub(engine)
      // no wall limit on a request: a large blob upload may take longer than Node's 300 s; the
      // body idle timeout (watchBody) ends one that stops. Headers must arrive in time, and a
      // keep-alive connection may idle only briefly.
      nodeServer = http.createServer({
        requestTimeout: 0,
        headersTimeout: headersTimeoutMs,
        keepAliveTimeout: keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(20, Math.min(30_000, Math.floor(headersTimeoutMs / 4)))
      })
      const server = nodeServer
      const layer = HttpRouter.serve(routes, { disableListenLog: true, disableLogger: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => server, { port: options.port ?? 0, host, gracefulShutdownTimeout: shutdownTimeoutMs }))
      )
      runtime = ManagedRuntime.make(layer)
      await runtime.runPromise(Effect.service(HttpServer.HttpServer))
      const a = server.address()
      if (a === null || typeof a === "string") throw new Error("server has no TCP address")
      const shown = a.family === "IPv6" ? `[${a.address}]` : a.address
      address = { host: a.address, port: a.port, url: `http://${shown}:${a.port}` }
      return address
    },
    async close() {
      if (closing) return
      closing = true
      // end the event streams first and let their responses finish: a response still streaming
      // when the runtime is disposed is interrupted mid-body (and effect's cause handling then
      // trips Node's DEP0066 warning walking the Node response)
      await events?.close()
      if (nodeServer) {
        const server = nodeServer
        server.close()
        server.closeIdleConnections()
        // let in-flight requests (uploads) finish, then abandon the rest
        if (inFlight.size > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, shutdownTimeoutMs)
            idle = () => {
              clearTimeout(timer)
              resolve()
            }
          })
        }
        for (const req of inFlight) req.destroy()
        server.closeAllConnections()
      }
      await runtime?.dispose()
      await uploads.close()
    }
  }
}
