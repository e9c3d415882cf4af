// /openapi.json: derived from the API's definition (definition.ts) by effect's OpenApi, with the
// bearer token the service asks for: every operation needs it but the liveness probe.
import { OpenApi } from "effect/http-api"
import { CairnApi } from "./definition.js"
import { type Handler, handlers } from "./jsonApi.js"

/** operations (`group.endpoint`, as OpenApi names them) served without the token */
const OPEN = new Set(
  Object.entries(handlers).flatMap(([group, endpoints]) =>
    Object.entries(endpoints as Record<string, Handler>).flatMap(([id, h]) => (h.open === true ? [`${group}.${id}`] : []))
  )
)

let cached: Record<string, unknown> | undefined

export const openApiDocument = (): Record<string, unknown> => {
  if (cached) return structuredClone(cached)
  const doc = OpenApi.fromApi(CairnApi) as unknown as { paths: Record<string, Record<string, { operationId?: string; security?: unknown }>> }
  for (const ops of Object.values(doc.paths)) {
    for (const op of Object.values(ops)) {
      // the generator marks every operation as needing no security; the document-wide bearer applies instead
      if (OPEN.has(op.operationId ?? "")) op.security = []
      else delete op.security
    }
  }
  cached = {
    ...doc,
    components: { ...((doc as { components?: object }).components ?? {}), securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }]
  }
  return structuredClone(cached)
}
