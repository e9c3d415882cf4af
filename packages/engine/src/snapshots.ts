// Snapshots: every layer extracted once, in overlay form, into snapshots/<chainID hex>, shared
// by every image whose stack below it is the same (image-spec config.md "Layer ChainID").
// Extraction goes to snapshots/.tmp-<pid>-<rand> and is renamed into place only after the
// layer's diffID checked out, so a visible snapshot is always complete.
import { readdir, rm } from "node:fs/promises"
import { join } from "node:path"
import { chainIds, type Digest } from "@cairn/digest"
import * as Effect from "effect/Effect"
import { pidAlive, tempOwner } from "./atomic.js"
import type { EngineContext } from "./context.js"
import { type SnapshotMeta, treeSize } from "./snapshotter.js"
import type { LayerDescriptor } from "./store.js"

export { listSnapshots, lowerDirs, readSnapshotMeta, type SnapshotMeta, treeSize } from "./snapshotter.js"

/** what snapshot making needs of the engine's context */
export type SnapshotContext = Pick<EngineContext, "layout" | "store" | "progress" | "snapshotter" | "inFlight" | "now" | "extract">

/** Removes extraction dirs left by processes that are gone (open-time repair). */
export async function removeDeadTemps(dir: string): Promise<Array<string>> {
  const removed: Array<string> = []
  for (const name of await readdir(dir).catch(() => [] as Array<string>)) {
    const pid = tempOwner(name)
    if (pid === undefined || pidAlive(pid)) continue
    await rm(join(dir, name), { recursive: true, force: true })
    removed.push(name)
  }
  return removed
}

/**
 * Makes sure the snapshot of layer `index` exists. Resolves true when this call extracted it,
 * false when it was already there (or another process won the race).
 */
export function ensureSnapshot(
  ctx: SnapshotContext,
  layers: ReadonlyArray<LayerDescriptor>,
  diffIds: ReadonlyArray<Digest>,
  index: number,
  ref?: string
): Promise<boolean> {
  const chain = chainIds(diffIds.slice(0, index + 1))
  const chainId = chain[index]!
  const running = ctx.inFlight.get(chainId)
  if (running !== undefined) return running.then(() => false)
  // lowers (top first) let a hardlink to a file of a lower layer be copied from there, and give a
  // parent directory the layer doesn't list its lower metadata: so a layer is applied only once
  // the snapshot below it exists (containerd's unpacker also applies in order)
  const below = index > 0 ? parentSnapshot(ctx, layers, diffIds, index - 1, chain[index - 1]!, ref) : Promise.resolve()
  const p = below
    .then(() => extractOnce(ctx, layers[index]!, diffIds[index]!, chain.slice(0, index + 1), ref))
    .finally(() => ctx.inFlight.delete(chainId))
  ctx.inFlight.set(chainId, p)
  return p
}

/** Waits for the snapshot below a layer: already there, being extracted, or extracted now (its blob is in the store). */
async function parentSnapshot(
  ctx: SnapshotContext,
  layers: ReadonlyArray<LayerDescriptor>,
  diffIds: ReadonlyArray<Digest>,
  index: number,
  chainId: Digest,
  ref: string | undefined
): Promise<void> {
  const running = ctx.inFlight.get(chainId)
  if (running !== undefined) {
    await running
    return
  }
  if ((await run(ctx.snapshotter.stat(chainId))) !== undefined) return
  await ensureSnapshot(ctx, layers, diffIds, index, ref)
}

const run = <A, E>(e: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(e)

/** Extracts a layer into a prepared snapshot and commits it under its chainID (`chain`: its stack, itself last). */
async function extractOnce(
  ctx: SnapshotContext,
  layer: LayerDescriptor,
  diffId: Digest,
  chain: ReadonlyArray<Digest>,
  ref: string | undefined
): Promise<boolean> {
  const chainId = chain[chain.length - 1]!
  const parent = chain.length > 1 ? chain[chain.length - 2] : undefined
  if ((await run(ctx.snapshotter.stat(chainId))) !== undefined) return false
  const prepared = await run(ctx.snapshotter.prepare(chain.slice(0, -1)))
  let committed = false
  try {
    const progress = (bytes: number, phase: "extract" | "done") =>
      ctx.progress.emit({ kind: "layer", phase, digest: layer.digest, bytes, total: layer.size, ...(ref === undefined ? {} : { ref }) })
    progress(0, "extract")
    await ctx.extract(layer, diffId, prepared.dir, (n) => progress(n, "extract"), prepared.lowers)
    const meta: SnapshotMeta = {
      chainId,
      diffId,
      ...(parent === undefined ? {} : { parent }),
      layer: { digest: layer.digest, size: layer.size, mediaType: layer.mediaType },
      size: await treeSize(prepared.dir),
      created: ctx.now().toISOString()
    }
    // false: another writer's copy is in place (ours is dropped)
    committed = await run(ctx.snapshotter.commit(prepared.key, meta))
    if (!committed) return false
    progress(layer.size, "done")
    return true
  } finally {
    if (!committed) await run(ctx.snapshotter.remove(prepared.key))
  }
}

/** The chainIDs of an image's stack, bottom first. */
export const stackOf = (diffIds: ReadonlyArray<Digest>): Array<Digest> => chainIds([...diffIds])
