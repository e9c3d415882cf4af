// Containers: a writable upper dir over an image's shared snapshots, mounted by @cairn/mount.
// containers/<id>/{upper,work,merged,meta.json}; created under a temp name and renamed in.
// The operations are Effect programs over the engine's services (its Snapshotter and Mounter);
// their leaves are plain file I/O (`attempt`), and a container's changes are made holding its
// lock (`locked`), whole: an interruption stops one waiting for the lock, never one half done.
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, readdir, rename, rm } from "node:fs/promises"
import { join } from "node:path"
import type { Digest } from "@cairn/digest"
import { chooseDriver, cleanupStale, DRIVER_NAMES, type DriverName, listMounts, mountAt } from "@cairn/mount"
import * as Effect from "effect/Effect"
import { readJson, writeJsonAtomic } from "./atomic.js"
import { attempt } from "./attempt.js"
import type { EngineContext } from "./context.js"
import type { EngineError } from "./engineError.js"
import { AmbiguousReferenceError, ContainerMountedError, DriverNameError, ContainerNameInUseError, ContainerNotFoundError, ContainerNotMountedError, UnreadableStateError } from "./errors.js"
import { ensureSnapshots, imageByDigest, resolveImage } from "./images.js"
import { locked } from "./lock.js"
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
 * make its snapshots look unused). The Promise form, for the operations still written as async functions.
 */
export async function readContainerMetas(ctx: EngineContext, options: { strict?: boolean } = {}): Promise<Array<ContainerMeta>> {
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

const containerMetas = (ctx: EngineContext) => attempt("list containers in", ctx.layout.containers, () => readContainerMetas(ctx))

export const listContainers = (ctx: EngineContext): Effect.Effect<Array<ContainerSummary>, EngineError> => Effect.map(containerMetas(ctx), (all) => all.map(summaryOf))

/** By exact id, exact name, or unique id prefix. */
export const findContainer = (ctx: EngineContext, idOrName: string): Effect.Effect<ContainerMeta, EngineError> =>
  Effect.gen(function*() {
    const all = yield* containerMetas(ctx)
    const exact = all.find((c) => c.id === idOrName || c.name === idOrName)
    if (exact !== undefined) return exact
    if (/^[0-9a-f]{3,64}$/.test(idOrName)) {
      const hits = all.filter((c) => c.id.startsWith(idOrName))
      if (hits.length === 1) return hits[0]!
      if (hits.length > 1) return yield* new AmbiguousReferenceError({ input: idOrName, matches: hits.map((h) => h.id) })
    }
    return yield* new ContainerNotFoundError({ container: idOrName })
  })

const metaPath = (ctx: EngineContext, id: string) => join(ctx.layout.container(id), "meta.json")
export const lockName = (id: string) => `container-${id.slice(0, 32)}`

const readMeta = (ctx: EngineContext, id: string) => attempt("read", metaPath(ctx, id), () => readJson<ContainerMeta>(metaPath(ctx, id)))
const writeMeta = (ctx: EngineContext, meta: ContainerMeta) => attempt("write", metaPath(ctx, meta.id), () => writeJsonAtomic(metaPath(ctx, meta.id), meta))
const unmounted = ({ mounted: _, ...rest }: ContainerMeta): ContainerMeta => rest

/**
 * Runs `f` over the container's current metadata (read again holding its lock: the one found
 * before may have changed) while holding the lock; `also` is a lock taken first (the container list's).
 */
export const withContainer = <A>(ctx: EngineContext, idOrName: string, f: (meta: ContainerMeta) => Effect.Effect<A, EngineError>, also?: string) =>
  Effect.gen(function*() {
    const found = yield* findContainer(ctx, idOrName)
    const inner = locked(
      ctx.layout.locks,
      lockName(found.id),
      Effect.flatMap(readMeta(ctx, found.id), (meta) => (meta === undefined ? Effect.fail(new ContainerNotFoundError({ container: idOrName })) : f(meta)))
    )
    return yield* also === undefined ? inner : locked(ctx.layout.locks, also, inner)
  })

export const createContainer = (ctx: EngineContext, image: string, options: { name?: string } = {}): Effect.Effect<ContainerSummary, EngineError> =>
  Effect.gen(function*() {
    const img = yield* attempt("read image", image, () => resolveImage(ctx, image))
    yield* ensureSnapshots(ctx, img)
    const id = randomBytes(32).toString("hex")
    const name = options.name ?? `cairn-${id.slice(0, 12)}`
    return yield* locked(
      ctx.layout.locks,
      "containers",
      Effect.gen(function*() {
        const clash = (yield* containerMetas(ctx)).find((c) => c.name === name)
        if (clash !== undefined) return yield* new ContainerNameInUseError({ name, container: clash.id })
        const meta: ContainerMeta = { id, name, image, imageDigest: img.digest, chain: img.chain, created: ctx.now().toISOString() }
        yield* attempt("create container in", ctx.layout.containers, () => createDir(ctx, meta))
        return summaryOf(meta)
      })
    )
  })

/** containers/<id> with its dirs and meta.json, made under a temp name and renamed in. */
async function createDir(ctx: EngineContext, meta: ContainerMeta): Promise<void> {
  await mkdir(ctx.layout.containers, { recursive: true })
  const tmp = join(ctx.layout.containers, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
  try {
    for (const d of ["upper", "work", "merged", "lower"]) await mkdir(join(tmp, d), { recursive: true })
    await writeJsonAtomic(join(tmp, "meta.json"), meta)
    await rename(tmp, ctx.layout.container(meta.id))
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
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
export const mountContainer = (ctx: EngineContext, idOrName: string, driver?: DriverChoice, options: { outlive?: boolean } = {}): Effect.Effect<string, EngineError> =>
  withContainer(ctx, idOrName, (meta) =>
    Effect.gen(function*() {
      // mounted already (open-time reconciliation dropped stale records): the same path again, as podman does
      if (meta.mounted !== undefined) return meta.mounted.mountpoint
      // snapshots removed behind our back (fsck --repair drops broken ones) are extracted again
      if (meta.chain.length > 0) yield* ensureSnapshots(ctx, yield* attempt("read image", meta.imageDigest, () => imageByDigest(ctx, meta.imageDigest)))
      const dir = ctx.layout.container(meta.id)
      let chosen = yield* Effect.try({ try: () => mountDriverName(driver ?? ctx.driver), catch: (e) => e as DriverNameError })
      const holder = isHostRoot() ? undefined : yield* attempt("read namespace holder of", ctx.layout.root, () => currentHolder(ctx.layout.root))
      const inHolder = insideHolder(holder)
      if (inHolder && (chosen === "auto" || chosen === "kernel" || chosen === "rootless")) chosen = "kernel"
      else if (options.outlive === true && !isHostRoot() && (chosen === "rootless" || (chosen === "auto" && (yield* autoDriver(ctx)) === "rootless"))) {
        return yield* new NamespaceRequiredError({ operation: "mount", container: idOrName })
      }
      const spec =
        meta.chain.length > 0
          ? ctx.snapshotter.mounts(meta.chain, { upper: join(dir, "upper"), work: join(dir, "work"), target: join(dir, "merged") })
          : { lowers: lowersOf(ctx, meta), upper: join(dir, "upper"), work: join(dir, "work"), target: join(dir, "merged") }
      const m = yield* ctx.mounter.acquire(inHolder ? { ...spec, options: { ...spec.options, userxattr: true } } : spec, { driver: chosen })
      // in the holder's namespace the upper keeps user.overlay.* xattrs, as the rootless driver's does
      const inNamespace = inHolder && m.driver === "kernel"
      const recorded: DriverName = inNamespace ? "rootless" : m.driver
      // a copy (or fuse) mount does not live in the holder's namespace; a kernel mount there does
      const mounted = { driver: recorded, mountpoint: m.path, ...(inNamespace && holder !== undefined ? { holder } : {}) }
      // a mount its container does not record is undone
      yield* writeMeta(ctx, { ...meta, mounted, lastDriver: recorded }).pipe(Effect.tapError(() => Effect.ignore(ctx.mounter.unmount(m, { lazy: true }))))
      ctx.mounts.set(meta.id, m)
      return m.path
    })
  )

/** The driver auto picks here; undefined when none is usable (acquire says why). */
const autoDriver = (ctx: EngineContext): Effect.Effect<DriverName | undefined> =>
  ctx.mounter.detect.pipe(
    Effect.flatMap((caps) => Effect.try(() => chooseDriver(caps))),
    Effect.orElseSucceed(() => undefined)
  )

const unmountMeta = (ctx: EngineContext, meta: ContainerMeta): Effect.Effect<void, EngineError> =>
  Effect.gen(function*() {
    const mine = ctx.mounts.get(meta.id)
    const holder = meta.mounted?.holder
    const merged = join(ctx.layout.container(meta.id), "merged")
    if (holder !== undefined && mine === undefined) {
      // a mount in the holder's namespace: gone with a dead holder; else only reachable from inside it
      if (holderAlive(holder)) {
        if (!insideHolder(holder)) return yield* new NamespaceRequiredError({ operation: "umount", container: meta.id.slice(0, 12) })
        yield* ctx.mounter.unmountAt(merged, { lazy: true })
      }
    } else if (meta.mounted?.driver === "copy") {
      // the writes are in merged/, whichever process made it: record them into upper/, then empty it
      yield* attempt("record the copy mount's changes of", ctx.layout.container(meta.id), async () => {
        // loaded on use: it brings @cairn/overlay, which `ps` and the other listings do not need
        const { emptyMerged, syncCopyUpper } = await import("./copyUpper.js")
        await syncCopyUpper(ctx.layout.container(meta.id), lowersOf(ctx, meta))
        await emptyMerged(ctx.layout.container(meta.id))
      })
      ctx.mounts.delete(meta.id)
    } else if (mine !== undefined) {
      yield* ctx.mounter.unmount(mine, { lazy: true })
      ctx.mounts.delete(meta.id)
    } else {
      yield* ctx.mounter.unmountAt(merged, { lazy: true })
    }
    yield* writeMeta(ctx, unmounted(meta))
  })

export const unmountContainer = (ctx: EngineContext, idOrName: string): Effect.Effect<void, EngineError> =>
  withContainer(ctx, idOrName, (meta) => (meta.mounted === undefined ? Effect.fail(new ContainerNotMountedError({ container: meta.id })) : unmountMeta(ctx, meta)))

export const removeContainer = (ctx: EngineContext, idOrName: string, options: { force?: boolean } = {}): Effect.Effect<void, EngineError> =>
  withContainer(
    ctx,
    idOrName,
    (meta) =>
      Effect.gen(function*() {
        if (meta.mounted !== undefined) {
          if (options.force !== true) return yield* new ContainerMountedError({ container: meta.id, mountpoint: meta.mounted.mountpoint })
          yield* unmountMeta(ctx, meta)
        }
        // rename first: a crash mid-delete leaves a .tmp dir that open() clears, never half a container
        const trash = join(ctx.layout.containers, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
        yield* attempt("remove container", ctx.layout.container(meta.id), async () => {
          await rename(ctx.layout.container(meta.id), trash)
          await rm(trash, { recursive: true, force: true })
        })
      }),
    "containers"
  )

/** A rootless mount lives in a namespace held by a process: the holder, or the /proc/<pid>/root helper. */
const mountOwnerAlive = (m: NonNullable<ContainerMeta["mounted"]>): boolean => {
  if (m.holder !== undefined) return holderAlive(m.holder)
  const helper = /^\/proc\/(\d+)\/root\//.exec(m.mountpoint)
  return helper === null || existsSync(`/proc/${helper[1]}`)
}

const kernelMounts = attempt("read mounts of", "/proc/self/mountinfo", () => listMounts())

/**
 * Open-time repair: a container whose meta says mounted but the kernel has no mount is marked
 * unmounted (killed after unmount); a mount whose meta says unmounted is unmounted (killed
 * after mount, before the meta was written).
 */
export const reconcileMounts = (ctx: EngineContext): Effect.Effect<{ unmounted: Array<string>; marked: Array<string> }, EngineError> =>
  Effect.gen(function*() {
    const cleared: Array<string> = []
    const marked: Array<string> = []
    const mounts = yield* kernelMounts
    for (const meta of yield* containerMetas(ctx)) {
      const merged = join(ctx.layout.container(meta.id), "merged")
      const again = (f: (now: ContainerMeta) => Effect.Effect<void, EngineError>) =>
        locked(ctx.layout.locks, lockName(meta.id), Effect.flatMap(readMeta(ctx, meta.id), (now) => (now === undefined ? Effect.void : f(now))))
      if (meta.mounted !== undefined && !mountOwnerAlive(meta.mounted)) {
        // its namespace died with the holder (or the process) that held it: nothing is mounted
        yield* again((now) =>
          Effect.gen(function*() {
            if (now.mounted === undefined || mountOwnerAlive(now.mounted)) return
            yield* writeMeta(ctx, unmounted(now))
            marked.push(meta.id)
          })
        )
        continue
      }
      const live = mountAt(mounts, merged) !== undefined
      const kernelKind = meta.mounted === undefined || meta.mounted.driver === "kernel" || meta.mounted.driver === "fuse"
      if (live === (meta.mounted !== undefined) || !kernelKind) continue
      yield* again((now) =>
        Effect.gen(function*() {
          const stillLive = mountAt(yield* kernelMounts, merged) !== undefined
          if (now.mounted !== undefined && !stillLive) {
            yield* writeMeta(ctx, unmounted(now))
            marked.push(meta.id)
          } else if (now.mounted === undefined && stillLive) {
            yield* attempt("unmount stale mount at", merged, () => cleanupStale(merged))
            cleared.push(meta.id)
          }
        })
      )
    }
    return { unmounted: cleared, marked }
  })
