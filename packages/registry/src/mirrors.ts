// Fetches that follow the registries configuration: each route (mirrors in order, then the
// upstream) is tried until one answers; a mirror that is down, fails with 5xx or lacks the
// content (404, or a HEAD that finds nothing) passes the fetch on to the next route.
import type { ClientContext } from "./context.js"
import { RegistryError } from "./errors.js"
import type { Reference } from "./reference.js"
import { isNetworkCut } from "./retry.js"

/** A failure after which the next route is tried. */
export const fallsThrough = (e: unknown): boolean =>
  isNetworkCut(e) || (e instanceof RegistryError && (e.status >= 500 || e.status === 404 || e.status === 429))

/**
 * Runs `f` on each route of `ref` in order until one succeeds (and, with `missing`, gives a result
 * that is not missing). The last route's failure is what the caller sees.
 */
export async function viaRoutes<T>(
  ctx: ClientContext,
  ref: Reference,
  byDigest: boolean,
  f: (ref: Reference) => Promise<T>,
  options: { signal?: AbortSignal | undefined; missing?: (t: T) => boolean } = {}
): Promise<T> {
  const routes = ctx.routes?.(ref, byDigest) ?? [ref]
  for (let i = 0; ; i++) {
    const last = i === routes.length - 1
    try {
      const got = await f(routes[i]!)
      if (!last && options.missing?.(got)) continue
      return got
    } catch (e) {
      if (last || !fallsThrough(e) || options.signal?.aborted) throw e
    }
  }
}
