// Containers: a writable upper dir over an image's shared snapshots, mounted by @cairn/mount.
// containers/<id>/{upper,work,merged,meta.json}; created under a temp name and renamed in.
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, readdir, rename, rm } from "node:fs/promises"
import { join } from "node:path"
import type { Digest } from "@cairn/digest"
import { chooseDriver, cleanupStale, DRIVER_NAMES, type DriverName, listMounts, mountAt } from "@cairn/mount"
import * as Effect from "effect/Effect"
import { readJson, writeJsonAtomic } from "./atomic.js"
import type { EngineContext } from "./context.js"
import { AmbiguousReferenceError, ContainerMountedError, DriverNameError, ContainerNameInUseError, ContainerNotFoundError, ContainerNotMountedError, UnreadableStateError } from "./errors.js"
import { ensureSnapshots, imageByDigest, resolveImage } from "./images.js"
import { withLock } from "./lock.js"
import { currentHolder, holderAlive, insideHolder, isHostRoot, type NamespaceHolder, NamespaceRequiredError } from "./userns.js"

export interface ContainerMeta {
  readonly id: string
  readonly name: string
  /** the image argument as given at create (name or digest) */
  readonly image: string
  readonly imageDigest: Digest
  /** chainIDs of the image's stack, bottom first: the lowers, fixed at create */
  readonly chain: ReadonlyArray<Digest>
  readonly created: string
  readonly mounted?: {
    readonly driver: DriverName
    readonly mountpoint: string
    /** a rootless mount made inside `cairn unshare`: it lives as long as this namespace holder */
    readonly holder?: NamespaceHolder
  }
  /** the driver of the last mount: tells how the upper dir marks opaque dirs (trusted. or user. xattrs) */
  readonly lastDriver?: DriverName
}

export interface ContainerSummary {
  readonly id: string
  readonly name: string
  readonly image: string
  readonly imageDigest: Digest
  readonly created: string
  readonly mounted: boolean
  readonly mountpoint?: string
  readonly driver?: DriverName
}

/** ENGINE.md spells drivers as the CLI shows them; @cairn/mount has its own names. */
export type DriverChoice = DriverName | "overlay" | "fuse-overlayfs" | "auto"
export function mountDriverName(d: DriverChoice): DriverName | "auto" {
  const name = d === "overlay" ? "kernel" : d === "fuse-overlayfs" ? "fuse" : d
  if (name !== "auto" && !DRIVER_NAMES.includes(name)) {
    throw new DriverNameError({ input: String(d), reason: "a mount driver is auto, overlay (kernel), rootless, fuse-overlayfs (fuse) or copy" })
  }
  return name
}

const summaryOf = (m: ContainerMeta): ContainerSummary => ({
  id: m.id,
  name: m.name,
  image: m.image,
  imageDigest: m.imageDigest,
  created: m.created,
  mounted: m.mounted !== undefined,
  ...(m.mounted === undefined ? {} : { mountpoint: m.mounted.mountpoint, driver: m.mounted.driver })
})

/**
 * Every container's metadata. `strict` (prune/GC): a container whose meta.json cannot be read or
 * is not container metadata is an UnreadableStateError naming it, never skipped (skipping would
 * make its snapshots look unused).
 */
export async function listContainerMetas(ctx: EngineContext, options: { strict?: boolean } = {}): Promise<Array<ContainerMeta>> {
  const out: Array<ContainerMeta> = []
  const strict = options.strict === true
  let names: Array<string>
  try {
    names = await readdir(ctx.layout.containers)
  } catch (e) {
    if (!strict || (e as NodeJS.ErrnoException).code === "ENOENT") return []
    throw new UnreadableStateError({ what: "the containers directory", path: ctx.layout.containers, reason: (e as Error).message })
  }
  for (const name of names) {
    if (name.startsWith(".")) continue
    const path = join(ctx.layout.container(name), "meta.json")
    const meta = await readJson<ContainerMeta>(path).catch((e: unknown) => {
      if (strict) throw new UnreadableStateError({ what: `container ${name}`, path, reason: (e as Error).message })
      return undefined
    })
    if (meta === undefined) {
      // a container directory is renamed into place with its meta.json: one without it is damaged
      if (strict) throw new UnreadableStateError({ what: `container ${name}`, path, reason: "ENOENT: its meta.json is missing" })
      continue
    }
    const valid = typeof meta === "object" && meta !== null && typeof meta.id === "string" && Array.isArray(meta.chain) && meta.chain.every((c) => typeof c === "string")
    if (valid) out.push(meta)
    else if (strict) throw new UnreadableStateError({ what: `container ${name}`, path, reason: "it is not container metadata (no id or chain list)" })
  }
  return out.sort((a, b) => a.created.localeCompare(b.created))
}

export async function listContainers(ctx: EngineContext): Promise<Array<ContainerSummary>> {
  return (await listContainerMetas(ctx)).map(summaryOf)
}

/** By exact id, exact name, or unique id prefix. */
export async function findContainer(ctx: EngineContext, idOrName: string): Promise<ContainerMeta> {
  const all = await listContainerMetas(ctx)
  const exact = all.find((c) => c.id === idOrName || c.name === idOrName)
  if (exact !== undefined) return exact
  if (/^[0-9a-f]{3,64}$/.test(idOrName)) {
    const hits = all.filter((c) => c.id.startsWith(idOrName))
    if (hits.length === 1) return hits[0]!
    if (hits.length > 1) throw new AmbiguousReferenceError({ input: idOrName, matches: hits.map((h) => h.id) })
  }
  throw new ContainerNotFoundError({ container: idOrName })
}

const metaPath = (ctx: EngineContext, id: string) => join(ctx.layout.container(id), "meta.json")
export const lockName = (id: string) => `container-${id.slice(0, 32)}`

export async function createContainer(ctx: EngineContext, image: string, options: { name?: string } = {}): Promise<ContainerSummary> {
  const img = await resolveImage(ctx, image)
  await ensureSnapshots(ctx, img)
  const id = randomBytes(32).toString("hex")
  const name = options.name ?? `cairn-${id.slice(0, 12)}`
  return withLock(ctx.layout.locks, "containers", async () => {
    const clash = (await listContainerMetas(ctx)).find((c) => c.name === name)
    if (clash !== undefined) throw new ContainerNameInUseError({ name, container: clash.id })
    await mkdir(ctx.layout.containers, { recursive: true })
    const tmp = join(ctx.layout.containers, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
    try {
      for (const d of ["upper", "work", "merged", "lower"]) await mkdir(join(tmp, d), { recursive: true })
      const meta: ContainerMeta = { id, name, image, imageDigest: img.digest, chain: img.chain, created: ctx.now().toISOString() }
      await writeJsonAtomic(join(tmp, "meta.json"), meta)
      await rename(tmp, ctx.layout.container(id))
      return summaryOf(meta)
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  })
}

/** Lower dirs of a container: its image's snapshots, or an empty dir for an image without layers. */
export const lowersOf = (ctx: EngineContext, meta: ContainerMeta): Array<string> =>
  meta.chain.length > 0 ? ctx.snapshotter.lowers(meta.chain) : [join(ctx.layout.container(meta.id), "lower")]

/** Whether the kernel shows a mount at the container's merged dir (kernel and fuse drivers). */
export async function isMountedNow(ctx: EngineContext, id: string): Promise<boolean> {
  return mountAt(await listMounts(), join(ctx.layout.container(id), "merged")) !== undefined
}

/**
 * `outlive`: the mount must outlive this process (the CLI). As a non-root user that needs the
 * root's namespace holder: inside it (`cairn unshare`) the kernel driver mounts with userxattr;
 * outside it a rootless mount would end with this process, so it is refused with a hint.
 */
export async function mountContainer(ctx: EngineContext, idOrName: string, driver?: DriverChoice, options: { outlive?: boolean } = {}): Promise<string> {
  const found = await findContainer(ctx, idOrName)
  return withLock(ctx.layout.locks, lockName(found.id), async () => {
    const meta = await readJson<ContainerMeta>(metaPath(ctx, found.id))
    if (meta === undefined) throw new ContainerNotFoundError({ container: idOrName })
    // mounted already (open-time reconciliation dropped stale records): the same path again, as podman does
    if (meta.mounted !== undefined) return meta.mounted.mountpoint
    // snapshots removed behind our back (fsck --repair drops broken ones) are extracted again
    if (meta.chain.length > 0) await ensureSnapshots(ctx, await imageByDigest(ctx, meta.imageDigest))
    const dir = ctx.layout.container(meta.id)
    let chosen = mountDriverName(driver ?? ctx.driver)
    const holder = isHostRoot() ? undefined : await currentHolder(ctx.layout.root)
    const inHolder = insideHolder(holder)
    if (inHolder && (chosen === "auto" || chosen === "kernel" || chosen === "rootless")) chosen = "kernel"
    else if (options.outlive === true && !isHostRoot() && (chosen === "rootless" || (chosen === "auto" && (await autoDriver(ctx)) === "rootless"))) {
      throw new NamespaceRequiredError({ operation: "mount", container: idOrName })
    }
    const spec =
      meta.chain.length > 0
        ? ctx.snapshotter.mounts(meta.chain, { upper: join(dir, "upper"), work: join(dir, "work"), target: join(dir, "merged") })
        : { lowers: lowersOf(ctx, meta), upper: join(dir, "upper"), work: join(dir, "work"), target: join(dir, "merged") }
    const m = await Effect.runPromise(ctx.mounter.acquire(inHolder ? { ...spec, options: { ...spec.options, userxattr: true } } : spec, { driver: chosen }))
    // in the holder's namespace the upper keeps user.overlay.* xattrs, as the rootless driver's does
    const inNamespace = inHolder && m.driver === "kernel"
    const recorded: DriverName = inNamespace ? "rootless" : m.driver
    try {
      // a copy (or fuse) mount does not live in the holder's namespace; a kernel mount there does
      const mounted = { driver: recorded, mountpoint: m.path, ...(inNamespace && holder !== undefined ? { holder } : {}) }
      await writeJsonAtomic(metaPath(ctx, meta.id), { ...meta, mounted, lastDriver: recorded })
    } catch (e) {
      await Effect.runPromise(ctx.mounter.unmount(m, { lazy: true })).catch(() => {})
      throw e
    }
    ctx.mounts.set(meta.id, m)
    return m.path
  })
}

const autoDriver = async (ctx: EngineContext): Promise<DriverName | undefined> => {
  try {
    return chooseDriver(await Effect.runPromise(ctx.mounter.detect))
  } catch {
    return undefined // none usable: acquireMount says why
  }
}

async function unmountMeta(ctx: EngineContext, meta: ContainerMeta): Promise<void> {
  const mine = ctx.mounts.get(meta.id)
  const holder = meta.mounted?.holder
  if (holder !== undefined && mine === undefined) {
    // a mount in the holder's namespace: gone with a dead holder; else only reachable from inside it
    if (holderAlive(holder)) {
      if (!insideHolder(holder)) throw new NamespaceRequiredError({ operation: "umount", container: meta.id.slice(0, 12) })
      await Effect.runPromise(ctx.mounter.unmountAt(join(ctx.layout.container(meta.id), "merged"), { lazy: true }))
    }
  } else if (meta.mounted?.driver === "copy") {
    // the writes are in merged/, whichever process made it: record them into upper/, then empty it
    // loaded on use: it brings @cairn/overlay, which `ps` and the other listings do not need
    const { emptyMerged, syncCopyUpper } = await import("./copyUpper.js")
    await syncCopyUpper(ctx.layout.container(meta.id), lowersOf(ctx, meta))
    await emptyMerged(ctx.layout.container(meta.id))
    ctx.mounts.delete(meta.id)
  } else if (mine !== undefined) {
    await Effect.runPromise(ctx.mounter.unmount(mine, { lazy: true }))
    ctx.mounts.delete(meta.id)
  } else {
    await Effect.runPromise(ctx.mounter.unmountAt(join(ctx.layout.container(meta.id), "merged"), { lazy: true }))
  }
  const { mounted: _, ...rest } = meta
  await writeJsonAtomic(metaPath(ctx, meta.id), rest)
}

export async function unmountContainer(ctx: EngineContext, idOrName: string): Promise<void> {
  const found = await findContainer(ctx, idOrName)
  await withLock(ctx.layout.locks, lockName(found.id), async () => {
    const meta = await readJson<ContainerMeta>(metaPath(ctx, found.id))
    if (meta === undefined) throw new ContainerNotFoundError({ container: idOrName })
    if (meta.mounted === undefined) throw new ContainerNotMountedError({ container: meta.id })
    await unmountMeta(ctx, meta)
  })
}

export async function removeContainer(ctx: EngineContext, idOrName: string, options: { force?: boolean } = {}): Promise<void> {
  const found = await findContainer(ctx, idOrName)
  await withLock(ctx.layout.locks, "containers", () =>
    withLock(ctx.layout.locks, lockName(found.id), async () => {
      const meta = await readJson<ContainerMeta>(metaPath(ctx, found.id))
      if (meta === undefined) throw new ContainerNotFoundError({ container: idOrName })
      if (meta.mounted !== undefined) {
        if (options.force !== true) throw new ContainerMountedError({ container: meta.id, mountpoint: meta.mounted.mountpoint })
        await unmountMeta(ctx, meta)
      }
      // rename first: a crash mid-delete leaves a .tmp dir that open() clears, never half a container
      const trash = join(ctx.layout.containers, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
      await rename(ctx.layout.container(meta.id), trash)
      await rm(trash, { recursive: true, force: true })
    })
  )
}

/** A rootless mount lives in a namespace held by a process: the holder, or the /proc/<pid>/root helper. */
const mountOwnerAlive = (m: NonNullable<ContainerMeta["mounted"]>): boolean => {
  if (m.holder !== undefined) return holderAlive(m.holder)
  const helper = /^\/proc\/(\d+)\/root\//.exec(m.mountpoint)
  return helper === null || existsSync(`/proc/${helper[1]}`)
}

/**
 * Open-time repair: a container whose meta says mounted but the kernel has no mount is marked
 * unmounted (killed after unmount); a mount whose meta says unmounted is unmounted (killed
 * after mount, before the meta was written).
 */
export async function reconcileMounts(ctx: EngineContext): Promise<{ unmounted: Array<string>; marked: Array<string> }> {
  const unmounted: Array<string> = []
  const marked: Array<string> = []
  const mounts = await listMounts()
  for (const meta of await listContainerMetas(ctx)) {
    const merged = join(ctx.layout.container(meta.id), "merged")
    if (meta.mounted !== undefined && !mountOwnerAlive(meta.mounted)) {
      // its namespace died with the holder (or the process) that held it: nothing is mounted
      await withLock(ctx.layout.locks, lockName(meta.id), async () => {
        const now = await readJson<ContainerMeta>(metaPath(ctx, meta.id))
        if (now?.mounted === undefined || mountOwnerAlive(now.mounted)) return
        const { mounted: _, ...rest } = now
        await writeJsonAtomic(metaPath(ctx, meta.id), rest)
        marked.push(meta.id)
      })
      continue
    }
    const live = mountAt(mounts, merged) !== undefined
    const kernelKind = meta.mounted === undefined || meta.mounted.driver === "kernel" || meta.mounted.driver === "fuse"
    if (live === (meta.mounted !== undefined) || !kernelKind) continue
    await withLock(ctx.layout.locks, lockName(meta.id), async () => {
      const now = await readJson<ContainerMeta>(metaPath(ctx, meta.id))
      if (now === undefined) return
      const stillLive = mountAt(await listMounts(), merged) !== undefined
      if (now.mounted !== undefined && !stillLive) {
        const { mounted: _, ...rest } = now
        await writeJsonAtomic(metaPath(ctx, meta.id), rest)
        marked.push(meta.id)
      } else if (now.mounted === undefined && stillLive) {
        await cleanupStale(merged)
        unmounted.push(meta.id)
      }
    })
  }
  return { unmounted, marked }
}
