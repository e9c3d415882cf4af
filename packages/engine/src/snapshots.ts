// Snapshots: every layer extracted once, in overlay form, into snapshots/<chainID hex>, shared
// by every image whose stack below it is the same (image-spec config.md "Layer ChainID").
// Extraction goes to snapshots/.tmp-<pid>-<rand> and is renamed into place only after the
// layer's diffID checked out, so a visible snapshot is always complete.
import { readdir, rm } from "node:fs/promises"
import { join } from "node:path"
import { chainIds, type Digest } from "@cairn/digest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { pidAlive, tempOwner } from "./atomic.js"
import { attempt } from "./attempt.js"
import type { EngineContext } from "./context.js"
import type { EngineError } from "./engineError.js"
import { type SnapshotMeta, treeSize } from "./snapshotter.js"
import type { LayerDescriptor } from "./store.js"

export { listSnapshots, lowerDirs, readSnapshotMeta, type SnapshotMeta, treeSize, treeUsage } from "./snapshotter.js"

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
 * Makes sure the snapshot of layer `index` exists. Succeeds with true when this call extracted
 * it, false when it was already there (or another process won the race). One extraction per
 * chainID at a time in an engine: a second caller waits for the first's (`inFlight`). A layer's
 * extraction, once begun, runs to its end (it takes no signal): an interruption waits for it, and
 * its snapshot is committed or its prepared directory removed before the interruption completes.
 */
export const ensureSnapshot = (
  ctx: SnapshotContext,
  layers: ReadonlyArray<LayerDescriptor>,
  diffIds: ReadonlyArray<Digest>,
  index: number,
  ref?: string
): Effect.Effect<boolean, EngineError> =>
  // registered and run without a gap an interruption could fall into: a Deferred in inFlight is always completed
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const chain = chainIds(diffIds.slice(0, index + 1))
      const chainId = chain[index]!
      const running = ctx.inFlight.get(chainId)
      // a waiter may be interrupted; the extraction it waits for goes on
      if (running !== undefined) return restore(Effect.as(Deferred.await(running), false))
      const done = Deferred.makeUnsafe<boolean, EngineError>()
      ctx.inFlight.set(chainId, done)
      // lowers (top first) let a hardlink to a file of a lower layer be copied from there, and give a
      // parent directory the layer doesn't list its lower metadata: so a layer is applied only once
      // the snapshot below it exists (containerd's unpacker also applies in order)
      const below = index > 0 ? parentSnapshot(ctx, layers, diffIds, index - 1, chain[index - 1]!, ref) : Effect.void
      return Effect.andThen(below, extractOnce(ctx, layers[index]!, diffIds[index]!, chain, ref)).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            ctx.inFlight.delete(chainId)
            Deferred.doneUnsafe(done, exit)
          })
        )
      )
    })
  )

/** Waits for the snapshot below a layer: already there, being extracted, or extracted now (its blob is in the store). */
const parentSnapshot = (
  ctx: SnapshotContext,
  layers: ReadonlyArray<LayerDescriptor>,
  diffIds: ReadonlyArray<Digest>,
  index: number,
  chainId: Digest,
  ref: string | undefined
): Effect.Effect<void, EngineError> =>
  Effect.gen(function*() {
    const running = ctx.inFlight.get(chainId)
    if (running !== undefined) return yield* Effect.asVoid(Deferred.await(running))
    if ((yield* ctx.snapshotter.stat(chainId)) !== undefined) return
    yield* ensureSnapshot(ctx, layers, diffIds, index, ref)
  })

/** Extracts a layer into a prepared snapshot and commits it under its chainID (`chain`: its stack, itself last). */
const extractOnce = (
  ctx: SnapshotContext,
  layer: LayerDescriptor,
  diffId: Digest,
  chain: ReadonlyArray<Digest>,
  ref: string | undefined
): Effect.Effect<boolean, EngineError> =>
  Effect.gen(function*() {
    const chainId = chain[chain.length - 1]!
    const parent = chain.length > 1 ? chain[chain.length - 2] : undefined
    if ((yield* ctx.snapshotter.stat(chainId)) !== undefined) return false
    const progress = (bytes: number, phase: "extract" | "done") =>
      ctx.progress.emit({ kind: "layer", phase, digest: layer.digest, bytes, total: layer.size, ...(ref === undefined ? {} : { ref }) })
    const committed = yield* Effect.acquireUseRelease(
      ctx.snapshotter.prepare(chain.slice(0, -1)),
      (prepared) =>
        Effect.gen(function*() {
          progress(0, "extract")
          yield* attempt("extract layer into", prepared.dir, () => ctx.extract(layer, diffId, prepared.dir, (n) => progress(n, "extract"), prepared.lowers))
          const meta: SnapshotMeta = {
            chainId,
            diffId,
            ...(parent === undefined ? {} : { parent }),
            layer: { digest: layer.digest, size: layer.size, mediaType: layer.mediaType },
            size: yield* attempt("measure", prepared.dir, async () => treeSize(prepared.dir)),
            created: ctx.now().toISOString()
          }
          // false: another writer's copy is in place (ours is dropped)
          return yield* ctx.snapshotter.commit(prepared.key, meta)
        }),
      // a snapshot not committed leaves nothing: its prepared directory goes
      (prepared, exit) => (Exit.isSuccess(exit) && exit.value ? Effect.void : Effect.ignore(ctx.snapshotter.remove(prepared.key)))
    )
    if (committed) progress(layer.size, "done")
    return committed
  })

/** The chainIDs of an image's stack, bottom first. */
export const stackOf = (diffIds: ReadonlyArray<Digest>): Array<Digest> => chainIds([...diffIds])
