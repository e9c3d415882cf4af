// The build cache: <root>/build-cache/<key>.json, one file per step result. A key is the
// sha256 of the step's parent (chainID and config), its instruction after ARG/ENV expansion
// and, for COPY/ADD, the digest of its sources. An entry names a layer blob, never holds it: a
// layer that prune reclaimed (no image uses it) makes its entries stale, and they are removed.
import { createHash, randomBytes } from "node:crypto"
import { readdir, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { Digest } from "@cairn/digest"
import type { ImageConfig } from "@cairn/oci-spec/lazy"
import { readJson } from "../atomic.js"
import type { EngineContext } from "../context.js"

export type HistoryEntry = NonNullable<ImageConfig["history"]>[number]

export interface StepLayer {
  readonly digest: Digest
  readonly size: number
  readonly mediaType: string
  readonly diffId: Digest
}

export interface CacheEntry {
  readonly history: HistoryEntry
  readonly layer?: StepLayer
}

export const cacheDir = (ctx: EngineContext) => join(ctx.layout.root, "build-cache")

export function cacheKey(parts: Record<string, unknown>): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex")
}

/** The entry for `key` when its layer blob is still stored; a stale entry is removed. */
export async function lookup(ctx: EngineContext, key: string): Promise<CacheEntry | undefined> {
  const path = join(cacheDir(ctx), `${key}.json`)
  const entry = await readJson<CacheEntry>(path).catch(() => undefined)
  if (entry === undefined) return undefined
  if (entry.layer !== undefined && (await ctx.store.stat(entry.layer.digest)) === undefined) {
    await rm(path, { force: true })
    return undefined
  }
  return entry
}

export async function record(ctx: EngineContext, key: string, entry: CacheEntry): Promise<void> {
  const dir = cacheDir(ctx)
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
  const { mkdir } = await import("node:fs/promises")
  await mkdir(dir, { recursive: true })
  await writeFile(tmp, JSON.stringify(entry))
  await rename(tmp, join(dir, `${key}.json`))
}

/** Removes the entries whose layer blob is gone (after a prune) and the context file digests; returns how many entries. */
export async function pruneBuildCache(ctx: EngineContext): Promise<number> {
  await rm(join(cacheDir(ctx), "context-files.json"), { force: true })
  let n = 0
  for (const name of await readdir(cacheDir(ctx)).catch(() => [] as Array<string>)) {
    if (!/^[0-9a-f]{64}\.json$/.test(name)) continue
    if ((await lookup(ctx, name.slice(0, -5))) === undefined) n++
  }
  return n
}
