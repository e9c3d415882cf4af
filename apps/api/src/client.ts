// The typed client of the JSON API, derived from its definition (definition.ts) by effect's
// HttpApiClient: one method per endpoint, grouped as the API is (`client.images.inspect(...)`),
// with typed path parameters, query and body, answers decoded with the same schemas the server
// documents, and failures as ApiFailure (`.code`: NOT_FOUND, CONFLICT, ...). Uploads and
// downloads (image import/export, build contexts) are streams; /events is a stream of events.
import * as Effect from "effect/Effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { CairnApi } from "./definition.js"

export interface ClientOptions {
  /** where cairn-api listens, e.g. http://127.0.0.1:8080 */
  readonly url: string
  /** the service token (`cairn-api --token`), sent as a Bearer credential */
  readonly token?: string
}

/** The client over the HttpClient the caller provides (FetchHttpClient.layer, or one of its own). */
export const makeClient = (options: ClientOptions) =>
  HttpApiClient.make(CairnApi, {
    baseUrl: options.url.replace(/\/+$/, ""),
    ...(options.token === undefined || options.token === ""
      ? {}
      : { transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(options.token)) })
  })

/** the typed client: `client.containers.create({ payload: { image: "alpine:3" } })` */
export type CairnClient = Effect.Success<ReturnType<typeof makeClient>>

/** The client over the platform's fetch: `const client = await Effect.runPromise(fetchClient({ url }))`. */
export const fetchClient = (options: ClientOptions): Effect.Effect<CairnClient> => makeClient(options).pipe(Effect.provide(FetchHttpClient.layer))

