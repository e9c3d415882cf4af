// The JSON API served from its definition (definition.ts): HttpApiBuilder registers one route per
// endpoint, each running that endpoint's handler (jsonApi.ts) behind the server's guard, with its
// body taken and its answer given as the endpoint declares.
import type * as http from "node:http"
import type { IncomingMessage } from "node:http"
import { NodeHttpServerRequest } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SchemaAST from "effect/SchemaAST"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, type HttpApiEndpoint, HttpApiError } from "effect/http-api"
import { CairnApi, type GroupName } from "./definition.js"
import { ApiError } from "./errors.js"
import { decodeJsonBody, type Handler, handlers, type JsonContext } from "./jsonApi.js"
import { hasBody, isJsonType, mediaType } from "./policy.js"
import { unsupportedType } from "./responses.js"

/** What the server lends the JSON API: its guard (shutdown, auth, read-only, error bodies) and each request's context. */
export interface JsonServing {
  readonly guard: (
    req: IncomingMessage,
    v2: boolean,
    write: boolean,
    handler: () => Promise<HttpServerResponse.HttpServerResponse>,
    sendContinue?: () => void,
    open?: boolean
  ) => Promise<HttpServerResponse.HttpServerResponse>
  readonly maxJsonBytes: number
  readonly context: () => Omit<JsonContext, "params" | "query" | "req" | "body">
}

export const incoming = Effect.map(Effect.service(HttpServerRequest.HttpServerRequest), (r) => NodeHttpServerRequest.toIncomingMessage(r) as IncomingMessage)
// the platform's request knows whether a 100 Continue is pending; we read bodies from Node directly
export const continuer = Effect.map(Effect.service(HttpServerRequest.HttpServerRequest), (r) => () => {
  const own = (r as unknown as { writeContinue?: () => void }).writeContinue
  if (typeof own === "function") own.call(r)
  else {
    const res = NodeHttpServerRequest.toServerResponse(r) as http.ServerResponse
    if (!res.headersSent) res.writeContinue()
  }
})

/** the status an endpoint's success schema declares (HttpApiSchema.status), 200 when none */
const successStatus = (schema: { readonly ast: SchemaAST.AST }): number => {
  const own = schema.ast.annotations?.["httpApiStatus"]
  const keyed = schema.ast.context?.annotations?.["httpApiStatus"]
  return typeof own === "number" ? own : typeof keyed === "number" ? keyed : 200
}

export const jsonApiLayer = (serving: JsonServing) => {
  // one endpoint of the definition: its body is taken and its answer given as the endpoint says
  const jsonHandler = (endpoint: HttpApiEndpoint.Top, handler: Handler) => {
    const payload = [...endpoint.payload.entries()]
    const binaryTypes = payload.filter(([, p]) => p.encoding._tag === "Stream").map(([type]) => type)
    const request = payload.find(([type, p]) => type === "application/json" && p.encoding._tag !== "Stream")?.[1].schemas[0]
    const success = [...endpoint.success][0]
    const status = success === undefined ? 200 : successStatus(success)
    return Effect.gen(function* () {
      const req = yield* incoming
      const params = yield* HttpRouter.params
      const url = req.url ?? "/"
      const q = url.indexOf("?")
      const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1))
      const sendContinue = yield* continuer
      return yield* Effect.promise(() =>
        serving.guard(req, false, handler.write, async () => {
          // a browser form or no-cors fetch can send only urlencoded, multipart or text/plain bodies
          // without asking first: a JSON endpoint takes application/json, an upload its own types
          const type = mediaType(req)
          if (binaryTypes.length > 0) {
            if (type !== undefined && !binaryTypes.includes(type)) throw unsupportedType(req, binaryTypes.join(" or "))
          } else if ((type !== undefined || hasBody(req)) && !isJsonType(type)) {
            throw unsupportedType(req, "application/json")
          }
          const body = request ? await decodeJsonBody(req, request, serving.maxJsonBytes) : undefined
          const result = await handler.run({
            ...serving.context(),
            params,
            query,
            req,
            body
          })
          if (HttpServerResponse.isHttpServerResponse(result)) return result
          if (status === 204) return HttpServerResponse.empty({ status })
          return HttpServerResponse.jsonUnsafe(result ?? null, { status })
        }, sendContinue, handler.open === true)
      )
    })
  }


  // the JSON API's routes come from its definition: each group's endpoints get their handlers
  const group = <G extends GroupName>(name: G) =>
    HttpApiBuilder.group(CairnApi, name, (builder) => {
      let implemented = builder as unknown as { handleRaw: (id: string, f: (r: { endpoint: HttpApiEndpoint.Top }) => unknown) => typeof implemented }
      for (const [id, handler] of Object.entries(handlers[name] as Record<string, Handler>)) {
        implemented = implemented.handleRaw(id, ({ endpoint }) => jsonHandler(endpoint, handler))
      }
      return implemented as never
    })

  // a query the definition cannot decode (a single-valued parameter given twice) fails inside
  // HttpApiBuilder, before the handler: it is answered like any bad request, after the same checks
  const undecodable = HttpRouter.middleware((httpEffect) =>
    Effect.catchDefect(httpEffect, (defect) =>
      HttpApiError.HttpApiSchemaError.is(defect)
        ? Effect.flatMap(incoming, (req) =>
            Effect.promise(() =>
              serving.guard(req, false, false, async () => {
                throw new ApiError({ status: 400, code: "INVALID_REQUEST", reason: `${defect.kind.toLowerCase()}: ${defect.cause.message}` })
              })
            )
          )
        : Effect.die(defect)
    )
  ).layer
  const jsonApi = HttpApiBuilder.layer(CairnApi).pipe(
    Layer.provide([group("system"), group("images"), group("containers"), group("store"), group("events"), group("build")]),
    Layer.provide(undecodable)
  )
  return jsonApi
}
