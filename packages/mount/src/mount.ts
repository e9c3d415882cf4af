import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { DRIVER_NAMES, type ActiveMount, type DriverName } from "./driver.js"
import { chooseDriverEffect, type DetectReport, detectEffect, DRIVERS } from "./detect.js"
import type { MountError, UnmountFailedError } from "./errors.js"
import type { OverlaySpec } from "./spec.js"
import { helperPid } from "./helper.js"
import { defaultMountState, MountRuntime, MountState } from "./state.js"
import { type UnmountOptions, unmountEffect } from "./unmount.js"

export interface MountOptions {
  /** A driver, or "auto" (default): the first usable one of `allow` according to detect(). */
  readonly driver?: DriverName | "auto"
  /** What "auto" may pick, in preference order. Default: kernel, rootless, fuse, copy. */
  readonly allow?: ReadonlyArray<DriverName>
  /** How the scope's release unmounts (default: retry while busy, then lazy detach). */
  readonly unmount?: UnmountOptions
}

/** Picks and runs a driver; the caller owns the result (see mountOverlay for the scoped form). */
export const acquireMount = (spec: OverlaySpec, options: MountOptions = {}): Effect.Effect<ActiveMount, MountError> =>
  Effect.gen(function*() {
    const name =
      options.driver === undefined || options.driver === "auto"
        ? yield* chooseDriverEffect(yield* detectEffect(), options.allow ?? DRIVER_NAMES)
        : options.driver
    return yield* DRIVERS[name].mount(spec)
  })

/**
 * Mounts `spec` for the lifetime of the enclosing Scope: success, failure or interruption of
 * the scope always unmounts (Effect.acquireRelease; the acquire itself is uninterruptible, so
 * a mount is never made without its release registered).
 */
export const mountOverlay = (spec: OverlaySpec, options: MountOptions = {}): Effect.Effect<ActiveMount, MountError, Scope.Scope> =>
  Effect.acquireRelease(acquireMount(spec, options), (m) =>
    m.unmount({ lazy: true, ...options.unmount }).pipe(
      // a release cannot fail; say loudly what is left behind instead of hiding it
      Effect.catch((e: UnmountFailedError) => Effect.logError(`@cairn/mount: ${e.message}`))
    ))

/** The Promise face of an ActiveMount. */
export interface Mount {
  readonly driver: DriverName
  readonly spec: OverlaySpec
  /** Where this process reads and writes the merged tree. */
  readonly path: string
  unmount(options?: UnmountOptions): Promise<void>
}

/** `const m = await mount(spec); ...; await m.unmount()`: the same drivers, without Effect. */
export const mount = async (spec: OverlaySpec, options?: MountOptions): Promise<Mount> => {
  const active = await Effect.runPromise(acquireMount(spec, options))
  return {
    driver: active.driver,
    spec: active.spec,
    path: active.path,
    unmount: (o) => Effect.runPromise(active.unmount(o))
  }
}

/** What a Mounter does; every Effect runs with the Mounter's own MountState (state.ts). */
export interface MounterShape {
  /** Mounted for the lifetime of the enclosing Scope (mountOverlay). */
  readonly mount: (spec: OverlaySpec) => Effect.Effect<ActiveMount, MountError, Scope.Scope>
  /** Mounted until the caller unmounts it (acquireMount): mounts that outlive an operation. */
  readonly acquire: (spec: OverlaySpec, options?: MountOptions) => Effect.Effect<ActiveMount, MountError>
  /** Unmounts whatever is mounted at `target`, made by this process or another (unmountEffect). */
  readonly unmountAt: (target: string, options?: UnmountOptions) => Effect.Effect<void, UnmountFailedError>
  /** An ActiveMount's own unmount, run with this Mounter's state. */
  readonly unmount: (m: ActiveMount, options?: UnmountOptions) => Effect.Effect<void, UnmountFailedError>
  /** Which drivers work here (detectEffect), cached in this Mounter's state. */
  readonly detect: Effect.Effect<DetectReport>
  /** The pid of its mount(2) helper while one runs (diagnostics, tests). */
  readonly helperPid: () => number | undefined
  /** Stops its mount(2) helper and drops its caches (MountState.close). */
  readonly close: Effect.Effect<void>
}

/** A Mounter over its own MountState: two Mounters share no helper process and no cache. */
export const makeMounter = (state: MountState = new MountState(), options: MountOptions = {}): MounterShape => {
  const own = <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.provideService(e, MountRuntime, state)
  return {
    mount: (spec) => own(mountOverlay(spec, options)),
    acquire: (spec, o) => own(acquireMount(spec, { ...options, ...o })),
    unmountAt: (target, o) => own(unmountEffect(target, o)),
    unmount: (m, o) => own(m.unmount(o)),
    detect: own(detectEffect()),
    helperPid: () => helperPid(state),
    close: Effect.sync(() => state.close())
  }
}

/** The mounter as a service, so an engine can be given a fixed driver (or a test double). */
export class Mounter extends Context.Service<Mounter, MounterShape>()("@cairn/mount/Mounter") {
  /** Over the package's default state (the standalone functions' helper and caches). */
  static readonly layer = (options: MountOptions = {}) => Layer.succeed(Mounter, Mounter.of(makeMounter(defaultMountState, options)))
  /** Over a MountState of its own, closed with the layer's scope. */
  static readonly layerOwn = (options: MountOptions = {}) =>
    Layer.effect(Mounter, Effect.acquireRelease(Effect.sync(() => Mounter.of(makeMounter(new MountState(), options))), (m) => m.close))
}
