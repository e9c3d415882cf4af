import type { Digest } from "@cairn/digest"
import type { ActiveMount, DriverName, MounterShape } from "@cairn/mount"
import type * as Deferred from "effect/Deferred"
import type { EngineError } from "./engineError.js"
import type { ExtractedLayer, ExtractOptions, LayerBytes } from "./layers.js"
import type { ProgressEmitter } from "./progress.js"
import type { RootLayout } from "./root.js"
import type { SnapshotterShape } from "./snapshotter.js"
import type { ImageStore, LayerDescriptor } from "./store.js"

/**
 * Everything an engine operation works with; one per open engine. All state an engine keeps in
 * memory lives here (never in a module), so two engines in one process share none of it and
 * `close()` releases it.
 */
export interface EngineContext {
  readonly layout: RootLayout
  readonly store: ImageStore
  readonly progress: ProgressEmitter
  /** where snapshots live and the mount specs of their stacks (snapshotter.ts) */
  readonly snapshotter: SnapshotterShape
  /** performs mount specs, with this engine's own mount(2) helper and detection caches */
  readonly mounter: MounterShape
  /** mounts this engine made, by container id: the copy and rootless drivers can only be undone by their maker */
  readonly mounts: Map<string, ActiveMount>
  /** extractions under way, by chainID: two images with the same layer wait on one */
  readonly inFlight: Map<string, Deferred.Deferred<boolean, EngineError>>
  /** now, from the Clock the engine was built with (effect's TestClock in a test) */
  readonly now: () => Date
  readonly driver: DriverName | "auto"
  /** bounded concurrency of layer extraction */
  readonly concurrency: number
  /** the registries configuration file pull/push/copy follow (default: <root>/registries.conf when it exists) */
  readonly registriesConf?: string
  /** extracts one layer blob in overlay form into an empty dir, verifying its diffID (and its digest unless options say the blob was just verified) */
  readonly extract: (
    layer: LayerDescriptor,
    diffId: Digest,
    target: string,
    onBytes: (n: number) => void,
    lowers: ReadonlyArray<string>,
    options?: ExtractOptions
  ) => Promise<ExtractedLayer>
  /**
   * applies one layer blob in flat form (whiteouts delete) onto a rootfs dir, verifying both
   * digests; its bytes come from the store, or from `source` (an image read where it lies)
   */
  readonly applyFlat: (layer: LayerDescriptor, diffId: Digest, target: string, source?: () => Promise<LayerBytes>) => Promise<void>
}
