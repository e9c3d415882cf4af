// What the operations of the client (manifests, referrers, blob pull, blob push, tags) share: the
// endpoint of each registry, the retry policy and the manifest size limit. RegistryClient holds it.
import type { Endpoint } from "./endpoint.js"
import { parseReference, type Reference } from "./reference.js"
import type { RetryPolicy } from "./retry.js"

export interface ClientContext {
  /** the endpoint for a registry name, with its scheme and authentication */
  endpoint(registry: string): Endpoint
  readonly retry: RetryPolicy
  /** largest manifest accepted, in bytes */
  readonly manifestLimit: number
  /** digests whose last download left bad bytes in the sink's ingest: never resume onto them */
  readonly badIngest: Set<string>
  /** where to fetch a reference, in order (mirrors, then the upstream); undefined: the reference itself */
  readonly routes?: (ref: Reference, byDigest: boolean) => readonly Reference[]
}

export type RepositoryRef = Reference | string

export const asRef = (r: RepositoryRef): Reference => (typeof r === "string" ? parseReference(r) : r)

/** RFC 8288 `Link: <url>; rel="next"`. */
export function nextLink(link: string | undefined, base: URL): string | undefined {
  if (link === undefined) return undefined
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part)
    if (m && /rel="?next"?/.test(m[2]!)) return new URL(m[1]!, base).href
  }
  return undefined
}
