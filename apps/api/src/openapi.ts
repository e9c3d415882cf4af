// /openapi.json, generated from the JSON route table and its Effect Schemas (OpenAPI 3.1 uses
// JSON Schema 2020-12, the dialect Schema.toJsonSchemaDocument emits).
import * as Schema from "effect/Schema"
import { type JsonRoute, jsonRoutes, VERSION } from "./jsonApi.js"
import { ErrorBody } from "./schemas.js"

const jsonSchema = (schema: Schema.Top): Record<string, unknown> => {
  const doc = Schema.toJsonSchemaDocument(schema)
  const defs = doc.definitions as Record<string, unknown> | undefined
  return defs && Object.keys(defs).length > 0 ? { ...(doc.schema as object), $defs: defs } : (doc.schema as Record<string, unknown>)
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, "{$1}")

const errorResponse = { description: "error", content: { "application/json": { schema: jsonSchema(ErrorBody) } } }

const operation = (r: JsonRoute) => {
  const params = [
    ...[...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } })),
    ...Object.entries(r.query ?? {}).map(([name, description]) => ({ name, in: "query", required: false, description, schema: { type: "string" } }))
  ]
  const status = String(r.status ?? 200)
  const ok =
    r.response === "none"
      ? { description: "done" }
      : r.response === "binary"
        ? { description: "a tar archive", content: { "application/x-tar": { schema: { type: "string", format: "binary" } } } }
        : r.response === "event-stream"
          ? { description: "server-sent events", content: { "text/event-stream": { schema: { type: "string" } } } }
          : { description: "ok", content: { "application/json": { schema: jsonSchema(r.response.schema) } } }
  return {
    summary: r.summary,
    operationId: `${r.method.toLowerCase()}${r.path.replace(/[/:]+(\w)/g, (_, c: string) => c.toUpperCase())}`,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(r.open === true ? { security: [] } : {}),
    ...(r.request ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(r.request) } } } } : {}),
    ...(r.requestBinary ? { requestBody: { required: true, content: { [r.requestBinary]: { schema: { type: "string", format: "binary" } } } } } : {}),
    responses: { [status]: ok, "400": errorResponse, "401": errorResponse, "404": errorResponse, "409": errorResponse, "500": errorResponse }
  }
}

export const openApiDocument = (): Record<string, unknown> => {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of jsonRoutes) {
    const p = openApiPath(r.path)
    paths[p] = { ...(paths[p] ?? {}), [r.method.toLowerCase()]: operation(r) }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "cairn-api",
      version: VERSION,
      description:
        "cairn's engine over HTTP. The OCI distribution API (distribution-spec v1.1) is served under /v2/ from the same store and is not repeated here."
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths
  }
}
