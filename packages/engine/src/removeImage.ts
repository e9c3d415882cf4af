import type { Digest } from "@cairn/digest"
import * as Effect from "effect/Effect"
import { attempt } from "./attempt.js"
import type { EngineContext } from "./context.js"
import type { EngineError } from "./engineError.js"
import { readContainerMetas } from "./containers.js"
import { ImageInUseError } from "./errors.js"
import { findImage, loadImage } from "./images.js"
import { locked } from "./lock.js"
import { normalizeName } from "./reference.js"
import { prune } from "./space.js"

/**
 * `docker rmi`: by name, drops that name; the image goes when its last name does (or when
 * addressed by digest). Refused while a container uses it. Unreferenced blobs and snapshots
 * are then reclaimed.
 */
export const removeImage = (
  ctx: EngineContext,
  image: string,
  options: { force?: boolean } = {}
): Effect.Effect<{ untagged: Array<string>; deleted: Array<string> }, EngineError> =>
  Effect.gen(function*() {
    // holding the containers lock: no container is made from the image while it goes
    const result = yield* locked(ctx.layout.locks, "containers", attempt("remove image", image, () => untag(ctx, image, options)))
    if (result.deleted.length > 0) {
      const pruned = yield* prune(ctx)
      // the manifest's blob is among what prune reclaims, and a plain tar layer's blob digest is its
      // snapshot's chainID: each digest once
      for (const d of pruned.removed) if (!result.deleted.includes(d)) result.deleted.push(d)
    }
    return result
  })

/** Drops the names (and, with the last, the manifest's entry) unless a container uses the image. */
async function untag(ctx: EngineContext, image: string, options: { force?: boolean }): Promise<{ untagged: Array<string>; deleted: Array<string> }> {
  const stored = await findImage(ctx, image)
  const digest: Digest = stored.descriptor.digest
  let byName: string | undefined
  try {
    byName = normalizeName(image)
  } catch {}
  const names = byName !== undefined && stored.names.includes(byName) && options.force !== true ? [byName] : [...stored.names]
  const goes = names.length === stored.names.length
  if (goes) {
    // a container records the manifest it was made from: for an index, the host platform's in it
    const manifest = await loadImage(ctx, stored).then((img) => img.digest, () => digest)
    const users = (await readContainerMetas(ctx)).filter((c) => c.imageDigest === digest || c.imageDigest === manifest)
    if (users.length > 0) throw new ImageInUseError({ image, containers: users.map((u) => u.id) })
  }
  for (const n of names) await ctx.store.untag(n)
  if (goes) await ctx.store.removeManifest(digest)
  return { untagged: names, deleted: goes ? [digest as string] : [] }
}
