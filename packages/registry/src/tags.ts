// Tag listing with Link pagination (distribution-spec "Listing Tags").
import { repositoryScope } from "./auth.js"
import { asRef, type ClientContext, nextLink, type RepositoryRef } from "./context.js"
import { registryError } from "./endpoint.js"
import type { HttpResponse } from "./transport.js"

/** All tags of a repository, following Link pagination (distribution-spec "Listing Tags"). */
export async function listTags(ctx: ClientContext, reference: RepositoryRef, options: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
  const ref = asRef(reference)
  const ep = ctx.endpoint(ref.registry)
  const tags: string[] = []
  let path: string | undefined = `/v2/${ref.repository}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ""}`
  for (let page = 0; path !== undefined && page < 10_000; page++) {
    const res: HttpResponse = await ep.send({ method: "GET", path, scopes: [repositoryScope(ref.repository, "pull")], signal: options.signal })
    if (res.status !== 200) throw await registryError("GET", res)
    const body = JSON.parse(await res.text(16 << 20)) as { tags?: string[] | null }
    tags.push(...(body.tags ?? []))
    path = nextLink(res.header("link"), res.url)
  }
  return tags
}
