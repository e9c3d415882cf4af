// Snapshots: every layer extracted once, in overlay form, into snapshots/<chainID hex>, shared
// by every image whose stack below it is the same (image-spec config.md "Layer ChainID").
// Extraction goes to snapshots/.tmp-<pid>-<rand> and is renamed into place only after the
// layer's diffID checked out, so a visible snapshot is always complete.
import { randomBytes } from "node:crypto"
import { lstat, mkdir, readdir, rename, rm } from "node:fs/promises"
import { join } from "node:path"
import { chainIds, type Digest, digestHex } from "@cairn/digest"
import { pidAlive, readJson, tempOwner, writeJsonAtomic } from "./atomic.js"
import type { ExtractOptions } from "./layers.js"
import type { ProgressEmitter } from "./progress.js"
import type { RootLayout } from "./root.js"
import type { ImageStore, LayerDescriptor } from "./store.js"

export interface SnapshotMeta {
  readonly chainId: Digest
  readonly diffId: Digest
  readonly parent?: Digest
  readonly layer: LayerDescriptor
  /** bytes of the extracted files */
  readonly size: number
  readonly created: string
}

export interface SnapshotContext {
  readonly layout: RootLayout
  readonly store: ImageStore
  readonly progress: ProgressEmitter
  /** extracts one layer blob in overlay form into an empty dir (verifying its diffID) */
  readonly extract: (
    layer: LayerDescriptor,
    diffId: Digest,
    target: string,
    onBytes: (n: number) => void,
    lowers: ReadonlyArray<string>,
    options?: ExtractOptions
  ) => Promise<void>
}

/** Bytes of regular files below dir (what `du --apparent-size` would roughly say). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0
  const walk = async (d: string): Promise<void> => {
    let entries: Array<import("node:fs").Dirent>
    try {
      entries = await readdir(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile()) total += (await lstat(p).catch(() => ({ size: 0 }))).size
    }
  }
  await walk(dir)
  return total
}

export const readSnapshotMeta = (layout: RootLayout, chainId: Digest): Promise<SnapshotMeta | undefined> =>
  readJson<SnapshotMeta>(join(layout.snapshot(digestHex(chainId)), "meta.json"))

export async function listSnapshots(layout: RootLayout): Promise<Array<SnapshotMeta>> {
  const names = await readdir(layout.snapshots).catch(() => [] as Array<string>)
  const out: Array<SnapshotMeta> = []
  for (const name of names) {
    if (name.startsWith(".")) continue
    const meta = await readJson<SnapshotMeta>(join(layout.snapshots, name, "meta.json")).catch(() => undefined)
    if (meta !== undefined) out.push(meta)
  }
  return out
}

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

// In one process, two images with the same layer wait on one extraction.
const inFlight = new Map<string, Promise<boolean>>()

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
  const key = `${ctx.layout.root}\0${chainId}`
  const running = inFlight.get(key)
  if (running !== undefined) return running.then(() => false)
  // lowers (top first) let a hardlink to a file of a lower layer be copied from there, and give a
  // parent directory the layer doesn't list its lower metadata: so a layer is applied only once
  // the snapshot below it exists (containerd's unpacker also applies in order)
  const lowers = lowerDirs(ctx.layout, chain.slice(0, index))
  const below = index > 0 ? parentSnapshot(ctx, layers, diffIds, index - 1, chain[index - 1]!, ref) : Promise.resolve()
  const p = below
    .then(() => extractOnce(ctx, layers[index]!, diffIds[index]!, chainId, index > 0 ? chain[index - 1] : undefined, ref, lowers))
    .finally(() => inFlight.delete(key))
  inFlight.set(key, p)
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
  const running = inFlight.get(`${ctx.layout.root}\0${chainId}`)
  if (running !== undefined) {
    await running
    return
  }
  if ((await readSnapshotMeta(ctx.layout, chainId)) !== undefined) return
  await ensureSnapshot(ctx, layers, diffIds, index, ref)
}

async function extractOnce(
  ctx: SnapshotContext,
  layer: LayerDescriptor,
  diffId: Digest,
  chainId: Digest,
  parent: Digest | undefined,
  ref: string | undefined,
  lowers: ReadonlyArray<string>
): Promise<boolean> {
  const final = ctx.layout.snapshot(digestHex(chainId))
  if ((await readSnapshotMeta(ctx.layout, chainId)) !== undefined) return false
  await mkdir(ctx.layout.snapshots, { recursive: true })
  const tmp = join(ctx.layout.snapshots, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
  try {
    await mkdir(join(tmp, "fs"), { recursive: true })
    const progress = (bytes: number, phase: "extract" | "done") =>
      ctx.progress.emit({ kind: "layer", phase, digest: layer.digest, bytes, total: layer.size, ...(ref === undefined ? {} : { ref }) })
    progress(0, "extract")
    await ctx.extract(layer, diffId, join(tmp, "fs"), (n) => progress(n, "extract"), lowers)
    const meta: SnapshotMeta = {
      chainId,
      diffId,
      ...(parent === undefined ? {} : { parent }),
      layer: { digest: layer.digest, size: layer.size, mediaType: layer.mediaType },
      size: await treeSize(join(tmp, "fs")),
      created: new Date().toISOString()
    }
    await writeJsonAtomic(join(tmp, "meta.json"), meta)
    for (let attempt = 0; ; attempt++) {
      try {
        await rename(tmp, final)
        break
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e
        // another process renamed its copy first: theirs is as good as ours
        if (attempt > 0 || (await readSnapshotMeta(ctx.layout, chainId)) !== undefined) return false
        // a dir without meta.json is debris (snapshots are only renamed in complete): set it aside once
        const debris = `${tmp}-debris`
        await rename(final, debris).catch(() => {})
        await rm(debris, { recursive: true, force: true })
      }
    }
    progress(layer.size, "done")
    return true
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

/** The chainIDs of an image's stack, bottom first. */
export const stackOf = (diffIds: ReadonlyArray<Digest>): Array<Digest> => chainIds([...diffIds])

/** The lower dirs for an overlay mount of a stack: topmost first (overlayfs lowerdir order). */
export const lowerDirs = (layout: RootLayout, chain: ReadonlyArray<Digest>): Array<string> =>
  [...chain].reverse().map((c) => layout.snapshotFs(digestHex(c)))
