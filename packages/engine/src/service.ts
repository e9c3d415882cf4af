// The Effect API: EngineService with one Effect per operation. Most are Effect programs over the
// engine's services (`program`); the byte pipelines (import, export, transfers, views, build) are
// async functions, each lifted once here (`lift`, `abortable`). None outlives its Effect.
import { mkdir, stat } from "node:fs/promises"
import type { Readable, Writable } from "node:stream"
import { Store } from "@cairn/cas"
import { setDefaultHasher } from "@cairn/digest"
import { type ActiveMount, makeMounter, Mounter, MountState } from "@cairn/mount"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { settled } from "./attempt.js"
import { EngineClosedError } from "./closed.js"
import { eventLogWriter } from "./eventLog.js"
import { type EngineEvent, type EngineEventListener, EngineEvents, type EventBus, EventListeners } from "./events.js"
import type { UnpackOptions } from "./bundle.js"
import type { BuildOptions, BuildResult } from "./build/executor.js"
import {
  type ContainerSummary,
  createContainer,
  type DriverChoice,
  findContainer,
  listContainers,
  mountContainer,
  mountDriverName,
  reconcileMounts,
  removeContainer,
  unmountContainer
} from "./containers.js"
import type { EngineContext } from "./context.js"
import { asEngineError, type EngineError } from "./engineError.js"
import type { ImportOptions } from "./importExport.js"
import {
  findImage,
  type HistoryRow,
  history,
  type ImageInspect,
  type ImageSummary,
  inspectImage,
  listImages,
  tagImage,
  untagImage
} from "./images.js"
import type { InfoReport } from "./info.js"
import { ProgressEmitter, type ProgressListener } from "./progress.js"
import { asLocation, type ImageDestination, type ImageSource, locationName } from "./location.js"
import { normalizeName } from "./reference.js"
import { defaultRoot, RootLayout } from "./root.js"
import { removeDeadTemps } from "./snapshots.js"
import { overlaySnapshotter, Snapshotter, type SnapshotterShape } from "./snapshotter.js"
import type { DiskUsage, FsckResult, PruneResult } from "./space.js"
import { CasImageStore, ContentStore, type ImageStore } from "./store.js"
import type { CopyOptions, PullOptions, TransferOptions } from "./transfer.js"
import type { FileEntry, LayerAnalysis } from "./view.js"

export interface EngineOptions {
  /** default: CAIRN_ROOT, else /var/lib/cairn for root, else ${XDG_DATA_HOME:-~/.local/share}/cairn */
  readonly root?: string
  readonly driver?: DriverChoice
  /** layers extracted at once (default 2) */
  readonly concurrency?: number
  /**
   * sha256 core of every hot path (store puts, extraction, fsck): "wasm" (cairn's WASM kernel,
   * the default) or "native" (node:crypto). Process-wide (@cairn/digest's setDefaultHasher);
   * unset follows CAIRN_HASHER.
   */
  readonly hasher?: "wasm" | "native"
  /**
   * registries.conf (v2 subset: mirrors, per-host plain HTTP, blocks; see @cairn/registry) that
   * pull, push and copy follow when no client is given; default `<root>/registries.conf` if it exists.
   */
  readonly registriesConf?: string
}

export type { EngineEvent, EngineEventListener } from "./events.js"

type Op<Args extends Array<unknown>, A> = (...args: Args) => Effect.Effect<A, EngineError>

export interface EngineShape {
  readonly root: string
  readonly context: EngineContext
  /** the @cairn/cas store the engine opened over its root (the root is the OCI layout) */
  readonly store: Store
  readonly onProgress: (listener: ProgressListener) => () => void
  /** lifecycle events (EngineEvent), emitted after the operation succeeded */
  readonly onEvent: (listener: EngineEventListener) => () => void
  readonly importImage: Op<[source: string | ImageSource, name?: string, options?: ImportOptions], ImageSummary>
  readonly exportImage: Op<[image: string, dest: string | ImageDestination], void>
  readonly listImages: Op<[], Array<ImageSummary>>
  readonly inspectImage: Op<[image: string], ImageInspect>
  readonly history: Op<[image: string], Array<HistoryRow>>
  readonly tag: Op<[image: string, name: string], void>
  readonly untag: Op<[name: string], void>
  readonly removeImage: Op<[image: string, options?: { force?: boolean }], { untagged: Array<string>; deleted: Array<string> }>
  readonly unpack: Op<[image: string | ImageSource, dir: string, options?: UnpackOptions], void>
  readonly bundle: Op<[image: string | ImageSource, dir: string, options?: { args?: ReadonlyArray<string> } & UnpackOptions], void>
  readonly listFiles: Op<[image: string, path?: string], Array<FileEntry>>
  readonly readFile: Op<[image: string, path: string], Readable>
  readonly flatten: Op<[image: string, name: string], ImageSummary>
  readonly exportFs: Op<[imageOrContainer: string, dest: Writable | string], void>
  /** `cairn cp` out: `path` of an image or container to a host path, or a tar of it to a stream */
  readonly copyFrom: Op<[imageOrContainer: string, path: string, dest: Writable | string], void>
  /** `cairn cp` in: a host file or directory into a container at `path` (through its mount) */
  readonly copyTo: Op<[container: string, src: string | Readable, path: string], void>
  readonly analyze: Op<[image: string], Array<LayerAnalysis>>
  readonly pull: Op<[ref: string, name?: string, options?: PullOptions], ImageSummary>
  readonly push: Op<[image: string, ref: string, options?: TransferOptions], { digest: string }>
  readonly copy: Op<[src: string | ImageSource, dst: string | ImageDestination, options?: CopyOptions], { digest: string }>
  readonly createContainer: Op<[image: string, options?: { name?: string }], ContainerSummary>
  readonly listContainers: Op<[], Array<ContainerSummary>>
  readonly mountContainer: Op<[idOrName: string, options?: { driver?: DriverChoice; outlive?: boolean }], string>
  readonly unmountContainer: Op<[idOrName: string], void>
  readonly diffContainer: Op<[idOrName: string], Array<{ kind: "A" | "C" | "D"; path: string }>>
  readonly commitContainer: Op<[idOrName: string, options?: { name?: string; message?: string; author?: string }], ImageSummary>
  readonly removeContainer: Op<[idOrName: string, options?: { force?: boolean }], void>
  readonly df: Op<[], DiskUsage>
  readonly prune: Op<[options?: { dryRun?: boolean }], PruneResult>
  readonly fsck: Op<[options?: { repair?: boolean }], FsckResult>
  readonly info: Op<[], InfoReport>
  readonly build: Op<[context: string, options?: BuildOptions], BuildResult>
}

export class EngineService extends Context.Service<EngineService, EngineShape>()("@cairn/engine/EngineService") {}

/** "createContainer" -> "create container": errors speak of the operation as the user asked for it. */
const inWords = (operation: string) => operation.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)

/** How an operation's untyped failure is named: by its subject (["import from", source]) when given, else by the operation and the root. */
const failureOf = (operation: string, root: string, named?: readonly [string, string | undefined]) =>
  named?.[1] !== undefined ? asEngineError(named[0], named[1]) : asEngineError(inWords(operation), root)

/**
 * An operation still written as an async function. Interrupting it aborts the signal it is given
 * and waits until it has settled (`settled`): no operation outlives its Effect. `subject`: what
 * the user gave that it reads or writes (an archive, a target dir), named by an untyped failure
 * instead of the engine root; e.g. ["import from", source].
 */
const lifter =
  (root: string, isClosed: () => boolean) =>
  <Args extends Array<unknown>, A>(
    operation: string,
    // an Effect is run, never returned as a value (the compiler holds a converted operation out)
    f: (...args: Args) => Promise<A extends Effect.Effect<unknown, unknown, unknown> ? never : A>,
    subject?: (...args: Args) => readonly [string, string | undefined]
  ): Op<Args, A> =>
  (...args) =>
    abortable(root, isClosed, operation, undefined, () => f(...args), subject?.(...args))

/**
 * An operation written as an Effect program over the engine's services: refused after close(),
 * typed at its leaves; anything thrown in its own code is reported as a lifted operation's is
 * (a typed error as it is, else an EngineIOError of the operation), not as a defect.
 */
const program =
  (root: string, isClosed: () => boolean) =>
  <Args extends Array<unknown>, A>(operation: string, f: (...args: Args) => Effect.Effect<A, EngineError>): Op<Args, A> =>
  (...args) =>
    Effect.suspend(() => (isClosed() ? Effect.fail(new EngineClosedError({ root, operation: inWords(operation) })) : f(...args))).pipe(
      Effect.catchDefect((defect) => Effect.fail(failureOf(operation, root)(defect)))
    )

/**
 * An operation that takes an AbortSignal: interrupting the Effect (Effect.timeout,
 * Fiber.interrupt, runPromise's signal) aborts it and waits until it has settled, so what it
 * leaves behind is cleaned up before the interruption completes. `given` (the caller's own
 * signal in the options) aborts it too.
 */
const abortable = <A>(
  root: string,
  isClosed: () => boolean,
  operation: string,
  given: AbortSignal | undefined,
  f: (signal: AbortSignal) => Promise<A>,
  /** what an untyped failure names (operation, path); default the operation and the root */
  named?: readonly [string, string | undefined]
): Effect.Effect<A, EngineError> =>
  isClosed()
    ? Effect.fail(new EngineClosedError({ root, operation: inWords(operation) }))
    : settled(f, failureOf(operation, root, named), { ...(given === undefined ? {} : { given }), interrupted: `${inWords(operation)} was interrupted` })

/** The services an engine is built over; each defaults to its live implementation. */
interface EngineServices {
  readonly contentStore: Option.Option<ImageStore>
  readonly snapshotter: Option.Option<SnapshotterShape>
  readonly mounter: Option.Option<Mounter["Service"]>
  readonly now: () => Date
  readonly events: Option.Option<EventBus>
}

/**
 * Opens the root, repairs it, and builds the operations. `close` ends the engine. The
 * ContentStore, Snapshotter and Mounter services, when the Effect runs with them, replace the live
 * ones (@cairn/cas over the root; the overlay directories of the root; @cairn/mount with a
 * MountState of this engine's own); the
 * Clock it runs with (effect's TestClock in a test) stamps what the engine records.
 */
export const makeEngine = (options: EngineOptions = {}): Effect.Effect<{ shape: EngineShape; close: () => Promise<void> }, EngineError> =>
  Effect.gen(function*() {
    const contentStore = yield* Effect.serviceOption(ContentStore)
    const snapshotter = yield* Effect.serviceOption(Snapshotter)
    const mounter = yield* Effect.serviceOption(Mounter)
    const now = yield* Effect.clockWith((clock) => Effect.succeed(() => new Date(clock.currentTimeMillisUnsafe())))
    const events = yield* Effect.serviceOption(EngineEvents)
    return yield* Effect.tryPromise({ try: () => openEngine(options, { contentStore, snapshotter, mounter, now, events }), catch: asEngineError("open engine root", options.root ?? defaultRoot()) })
  })

async function openEngine(options: EngineOptions, services: EngineServices): Promise<{ shape: EngineShape; close: () => Promise<void> }> {
  const driver = mountDriverName(options.driver ?? "auto") // a bad name fails before anything is created
  if (options.hasher !== undefined) setDefaultHasher(options.hasher)
  const layout = new RootLayout(options.root ?? defaultRoot())
  const existing = await stat(layout.root).catch(() => undefined)
  if (existing !== undefined && !existing.isDirectory()) {
    throw Object.assign(new Error(`root ${layout.root} is not a directory`), { code: "ENOTDIR" })
  }
  await mkdir(layout.root, { recursive: true })
  const cas = await Store.open(layout.root)
  for (const d of [layout.snapshots, layout.containers, layout.locks]) await mkdir(d, { recursive: true })
  const progress = new ProgressEmitter()
  const store = Option.getOrElse(services.contentStore, () => new CasImageStore(cas))
  // a mounter of its own unless one was given: its helper process and caches end with close()
  const ownMounter = Option.isNone(services.mounter) ? makeMounter(new MountState()) : undefined
  const mounts = new Map<string, ActiveMount>()
  const ctx: EngineContext = {
    layout,
    store,
    progress,
    snapshotter: Option.getOrElse(services.snapshotter, () => overlaySnapshotter(layout)),
    mounter: ownMounter ?? Option.getOrThrow(services.mounter),
    mounts,
    inFlight: new Map(),
    now: services.now,
    driver,
    concurrency: options.concurrency ?? 2,
    ...(options.registriesConf === undefined ? {} : { registriesConf: options.registriesConf }),
    extract: async (layer, diffId, target, onBytes, lowers, o) => (await import("./layers.js")).extractLayer(store, layer, diffId, target, onBytes, lowers, o),
    applyFlat: async (layer, diffId, target, source) => (await import("./layers.js")).applyFlat(store, layer, diffId, target, source)
  }
  // open-time repair: half extractions and half-created/removed containers of dead processes,
  // then mounts that disagree with their container's metadata
  await removeDeadTemps(layout.snapshots)
  await removeDeadTemps(layout.containers)
  await removeDeadTemps(layout.locks)
  await Effect.runPromise(reconcileMounts(ctx))

  let closed = false
  const lift = lifter(layout.root, () => closed)
  const op = program(layout.root, () => closed)
  const events = Option.getOrElse(services.events, () => new EventListeners())
  // every process's events in the root's log, for `cairn events` (podman's file events backend)
  const unlog = events.on(eventLogWriter(layout.root))
  // what an event names is looked up around the operation; a failed lookup only drops the event
  const imageDigest = (input: string) => findImage(ctx, input).then((i) => i.descriptor.digest as string, () => undefined)
  const container = (idOrName: string) => Effect.option(findContainer(ctx, idOrName))
  const named = (name: string | undefined) => {
    if (name === undefined) return undefined
    try {
      return normalizeName(name)
    } catch {
      return undefined
    }
  }
  const imported = (s: ImageSummary, name?: string): ImageSummary => {
    events.emit("image.imported", s.digest, named(name) ?? s.names[0])
    return s
  }
  const onContainer = <A>(type: EngineEvent["type"], idOrName: string, f: Effect.Effect<A, EngineError>): Effect.Effect<A, EngineError> =>
    Effect.gen(function*() {
      const before = yield* container(idOrName)
      const r = yield* f
      const c = Option.isSome(before) ? before : yield* container(idOrName)
      if (Option.isSome(c)) events.emit(type, c.value.id, c.value.name)
      return r
    })
  // modules loaded on first use (commit and cp bring @cairn/overlay, which the listings do not need)
  const commitModule = Effect.promise(() => import("./commit.js"))
  const copyFilesModule = Effect.promise(() => import("./copyFiles.js"))
  const spaceModule = Effect.promise(() => import("./space.js"))
  const removeImageModule = Effect.promise(() => import("./removeImage.js"))
  const infoModule = Effect.promise(() => import("./info.js"))
  const bundleModule = Effect.promise(() => import("./bundle.js"))
  const shape: EngineShape = {
    root: layout.root,
    context: ctx,
    store: cas,
    onProgress: (l) => progress.on(l),
    onEvent: (l) => events.on(l),
    importImage: (source: string | ImageSource, name?: string, o?: ImportOptions) =>
      abortable(
        layout.root,
        () => closed,
        "importImage",
        o?.signal,
        async (signal) => imported(await (await import("./importExport.js")).importImage(ctx, asLocation(source), name, { ...o, signal }), name),
        ["import from", locationName(source)]
      ),
    exportImage: lift(
      "exportImage",
      async (image: string, dest: string | ImageDestination) => {
        await (await import("./importExport.js")).exportImage(ctx, image, asLocation(dest))
      },
      (image, dest) => [`export of ${image} to`, locationName(dest)]
    ),
    listImages: op("listImages", () => listImages(ctx)),
    inspectImage: op("inspectImage", (image: string) => inspectImage(ctx, image)),
    history: op("history", (image: string) => history(ctx, image)),
    tag: op("tag", (image: string, name: string) =>
      Effect.gen(function*() {
        yield* tagImage(ctx, image, name)
        const digest = yield* Effect.promise(() => imageDigest(name))
        if (digest !== undefined) events.emit("image.tagged", digest, named(name))
      })
    ),
    untag: op("untag", (name: string) =>
      Effect.gen(function*() {
        const digest = yield* Effect.promise(() => imageDigest(name))
        yield* untagImage(ctx, name)
        if (digest !== undefined) events.emit("image.removed", digest, named(name))
      })
    ),
    removeImage: op("removeImage", (image: string, o?: { force?: boolean }) =>
      Effect.gen(function*() {
        const digest = yield* Effect.promise(() => imageDigest(image))
        const r = yield* Effect.flatMap(removeImageModule, (m) => m.removeImage(ctx, image, o))
        const name = named(image)
        const id = digest ?? r.deleted[0]
        if (id !== undefined) events.emit("image.removed", id, name !== undefined && r.untagged.includes(name) ? name : undefined)
        return r
      })
    ),
    unpack: op("unpack", (image: string | ImageSource, dir: string, o?: UnpackOptions) => Effect.flatMap(bundleModule, (m) => m.unpack(ctx, image, dir, o))),
    bundle: op("bundle", (image: string | ImageSource, dir: string, o?: { args?: ReadonlyArray<string> } & UnpackOptions) =>
      Effect.flatMap(bundleModule, (m) => m.bundle(ctx, image, dir, o))
    ),
    listFiles: lift("listFiles", async (image: string, path?: string) => (await import("./view.js")).listFiles(ctx, image, path ?? "/")),
    readFile: lift("readFile", async (image: string, path: string) => (await import("./view.js")).readFile(ctx, image, path)),
    flatten: lift("flatten", async (image: string, name: string) => imported(await (await import("./view.js")).flatten(ctx, image, name), name)),
    copyFrom: lift("copyFrom", async (what: string, path: string, dest: Writable | string) => (await import("./copyFiles.js")).copyFrom(ctx, what, path, dest)),
    copyTo: op("copyTo", (container: string, src: string | Readable, path: string) =>
      Effect.flatMap(copyFilesModule, (m) => m.copyTo(ctx, container, src, path))
    ),
    exportFs: lift(
      "exportFs",
      async (what: string, dest: Writable | string) => (await import("./view.js")).exportFs(ctx, what, dest),
      (what, dest) => [`export of ${what}'s files to`, typeof dest === "string" ? dest : undefined]
    ),
    analyze: lift("analyze", async (image: string) => (await import("./view.js")).analyze(ctx, image)),
    pull: (ref: string, name?: string, o?: PullOptions) =>
      abortable(layout.root, () => closed, "pull", o?.signal, async (signal) =>
        imported(await (await import("./transfer.js")).pull(ctx, ref, name, { ...o, signal }), name)
      ),
    push: (image: string, ref: string, o?: TransferOptions) =>
      abortable(layout.root, () => closed, "push", o?.signal, async (signal) => (await import("./transfer.js")).push(ctx, image, ref, o?.client, true, signal)),
    copy: (src: string | ImageSource, dst: string | ImageDestination, o?: CopyOptions) =>
      abortable(layout.root, () => closed, "copy", o?.signal, async (signal) => {
        const to = asLocation(dst)
        const r = await (await import("./transfer.js")).copy(ctx, asLocation(src), to, { ...o, signal })
        if (to.kind === "local") events.emit("image.imported", r.digest)
        return r
      }),
    createContainer: op("createContainer", (image: string, o?: { name?: string }) =>
      Effect.tap(createContainer(ctx, image, o), (c) => Effect.sync(() => events.emit("container.created", c.id, c.name)))
    ),
    listContainers: op("listContainers", () => listContainers(ctx)),
    mountContainer: op("mountContainer", (id: string, o?: { driver?: DriverChoice; outlive?: boolean }) =>
      onContainer("container.mounted", id, mountContainer(ctx, id, o?.driver, { outlive: o?.outlive === true }))
    ),
    unmountContainer: op("unmountContainer", (id: string) => onContainer("container.unmounted", id, unmountContainer(ctx, id))),
    diffContainer: op("diffContainer", (id: string) => Effect.flatMap(commitModule, (m) => m.diffContainer(ctx, id))),
    commitContainer: op("commitContainer", (id: string, o?: { name?: string; message?: string; author?: string }) =>
      onContainer("container.committed", id, Effect.flatMap(commitModule, (m) => m.commitContainer(ctx, id, o)))
    ),
    removeContainer: op("removeContainer", (id: string, o?: { force?: boolean }) => onContainer("container.removed", id, removeContainer(ctx, id, o))),
    df: op("df", () => Effect.flatMap(spaceModule, (m) => m.df(ctx))),
    prune: op("prune", (o?: { dryRun?: boolean }) => Effect.flatMap(spaceModule, (m) => m.prune(ctx, o))),
    fsck: op("fsck", (o?: { repair?: boolean }) => Effect.flatMap(spaceModule, (m) => m.fsck(ctx, o))),
    info: op("info", () => Effect.flatMap(infoModule, (m) => m.info(ctx))),
    build: lift("build", async (dir: string, o?: BuildOptions) => {
      const r = await (await import("./build/executor.js")).build(ctx, dir, o)
      imported(r.image, o?.tags?.[0])
      return r
    })
  }
  const close = async () => {
    if (closed) return
    closed = true
    unlog()
    // a rootless mount without a namespace holder lives as long as its maker: it ends with the engine
    for (const [id, m] of [...mounts]) {
      if (m.driver !== "rootless") continue
      await Effect.runPromise(Effect.ignore(unmountContainer(ctx, id)))
    }
    mounts.clear()
    ctx.inFlight.clear()
    if (ownMounter !== undefined) await Effect.runPromise(ownMounter.close)
  }
  return { shape, close }
}
