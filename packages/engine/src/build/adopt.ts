// A build step's writable layer, already in overlay form (the kernel wrote its whiteouts and
// opaque marks), becomes the snapshot of the step's chainID by a rename: the layer just made
// from it is not extracted again. Same layout and same temp-then-rename rule as snapshots.ts.
import { randomBytes } from "node:crypto"
import { lstatSync, lutimesSync, readdirSync } from "node:fs"
import { mkdir, rename, rm } from "node:fs/promises"
import { join } from "node:path"
import { type Digest, digestHex } from "@cairn/digest"
import { writeJsonAtomic } from "../atomic.js"
import type { EngineContext } from "../context.js"
import { readSnapshotMeta, type SnapshotMeta } from "../snapshots.js"
import type { StepLayer } from "./cache.js"

/** Bytes of regular files below dir, and (with `mtime`) every entry's mtime set to it, as the layer has it. */
function walkSync(dir: string, mtime: number | undefined): number {
  let total = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += walkSync(p, mtime)
    else if (e.isFile()) total += lstatSync(p).size
    if (mtime !== undefined) lutimesSync(p, mtime, mtime)
  }
  return total
}

export async function adoptUpper(ctx: EngineContext, chainId: Digest, parent: Digest | undefined, layer: StepLayer, upper: string, mtime?: number): Promise<void> {
  if ((await readSnapshotMeta(ctx.layout, chainId)) !== undefined) return
  const tmp = join(ctx.layout.snapshots, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
  await mkdir(tmp, { recursive: true })
  try {
    const size = walkSync(upper, mtime)
    if (mtime !== undefined) lutimesSync(upper, mtime, mtime)
    await rename(upper, join(tmp, "fs"))
    const meta: SnapshotMeta = {
      chainId,
      diffId: layer.diffId,
      ...(parent === undefined ? {} : { parent }),
      layer: { digest: layer.digest, size: layer.size, mediaType: layer.mediaType },
      size,
      created: new Date().toISOString()
    }
    await writeJsonAtomic(join(tmp, "meta.json"), meta)
    await rename(tmp, ctx.layout.snapshot(digestHex(chainId))).catch((e: NodeJS.ErrnoException) => {
      // another process made this snapshot first: theirs is as good as ours
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e
    })
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}
