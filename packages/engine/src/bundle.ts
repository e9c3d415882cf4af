// Flat root filesystems (`umoci raw unpack`) and OCI runtime bundles (rootfs + config.json).
import { mkdir, readdir } from "node:fs/promises"
import { join } from "node:path"
import type { EngineContext } from "./context.js"
import { InvalidSourceError } from "./errors.js"
import { resolveImage } from "./images.js"
import { writeJsonAtomic } from "./atomic.js"
import { type RuntimeSpecOptions, runtimeSpec } from "./runtimeSpec.js"

async function emptyDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  if ((await readdir(dir)).length > 0) throw new InvalidSourceError({ source: dir, reason: "the target directory is not empty", action: "unpack into" })
}

/** Applies every layer in order (whiteouts delete) into `dir`, which must be empty or absent. */
export async function unpack(ctx: EngineContext, image: string, dir: string): Promise<void> {
  const img = await resolveImage(ctx, image)
  await emptyDir(dir)
  for (const [i, layer] of img.layers.entries()) await ctx.applyFlat(layer, img.diffIds[i]!, dir)
}

/** DIR/rootfs + DIR/config.json (runtime-spec), ready for `crun run --bundle DIR`. */
export async function bundle(ctx: EngineContext, image: string, dir: string, options: RuntimeSpecOptions = {}): Promise<void> {
  const img = await resolveImage(ctx, image)
  await emptyDir(dir)
  const rootfs = join(dir, "rootfs")
  await mkdir(rootfs)
  for (const [i, layer] of img.layers.entries()) await ctx.applyFlat(layer, img.diffIds[i]!, rootfs)
  await writeJsonAtomic(join(dir, "config.json"), await runtimeSpec(img.config, rootfs, options))
}
