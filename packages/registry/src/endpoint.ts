// One registry's API root (`<scheme>://<host>/v2/`), with authentication applied to every request
// that goes to that host, and OCI error bodies turned into RegistryError.
import type { Authenticator } from "./auth.js"
import { RegistryError } from "./errors.js"
import type { HttpResponse, RequestBody, Transport } from "./transport.js"

export interface EndpointRequest {
  readonly method: string
  /** a path under the registry root (`/v2/...`) or an absolute URL (upload locations) */
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: RequestBody
  readonly bodyLength?: number
  /** token scopes the request needs (token spec), e.g. `repository:foo:pull` */
  readonly scopes: readonly string[]
  readonly signal?: AbortSignal | undefined
  /** false: one attempt only (upload bodies, whose session state is unknown after a failure) */
  readonly retry?: boolean
  /** the size of the body expected: see HttpRequest.expectBytes */
  readonly expectBytes?: number
  /** lend the body's chunks: see HttpRequest.lend */
  readonly lend?: boolean
}

export class Endpoint {
  constructor(
    /** registry name as in references (`docker.io`, `127.0.0.1:5000`) */
    readonly registry: string,
    /** `https://registry-1.docker.io` */
    readonly base: URL,
    private readonly transport: Transport,
    private readonly auth: Authenticator
  ) {}

  url(path: string): URL {
    return new URL(path, this.base)
  }

  /** Sends with the registry's credentials; on 401 learns the challenge and tries once more. */
  async send(req: EndpointRequest): Promise<HttpResponse> {
    const url = this.url(req.path)
    // credentials go to the registry's own host only, never to an upload location elsewhere
    const ours = url.host === this.base.host && url.protocol === this.base.protocol
    for (let round = 0; ; round++) {
      const authorization = ours ? await this.auth.authorization(this.registry, req.scopes) : undefined
      const res = await this.transport.request({
        method: req.method,
        url,
        headers: { ...req.headers, ...(authorization ? { authorization } : {}) },
        ...(req.body === undefined ? {} : { body: req.body }),
        ...(req.bodyLength === undefined ? {} : { bodyLength: req.bodyLength }),
        ...(req.signal ? { signal: req.signal } : {}),
        ...(req.retry === false ? { retry: false } : {}),
        ...(req.expectBytes === undefined ? {} : { expectBytes: req.expectBytes }),
        ...(req.lend === true ? { lend: true } : {})
      })
      if (res.status !== 401 || !ours || round >= 2) return res
      res.discard()
      await this.auth.challenge(this.registry, res, req.scopes, authorization !== undefined)
    }
  }
}

/** Reads the OCI error body (distribution-spec "Error Codes") into a RegistryError. */
export async function registryError(method: string, res: HttpResponse): Promise<RegistryError> {
  let code: string | undefined
  let detail: string | undefined
  if (method !== "HEAD") {
    try {
      const body = JSON.parse(await res.text(64 * 1024)) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> }
      const first = body.errors?.[0]
      if (first !== undefined) {
        code = first.code
        detail = first.message ?? (first.detail === undefined ? undefined : JSON.stringify(first.detail))
      }
    } catch {
      // not an OCI error body
    }
  } else res.discard()
  return new RegistryError({
    method,
    url: res.url.href,
    status: res.status,
    ...(code === undefined ? {} : { code }),
    ...(detail === undefined ? {} : { detail })
  })
}
