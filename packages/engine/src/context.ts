import type { Digest } from "@cairn/digest"
import type { DriverName } from "@cairn/mount"
import type { ExtractOptions, LayerBytes } from "./layers.js"
import type { ProgressEmitter } from "./progress.js"
import type { RootLayout } from "./root.js"
import type { ImageStore, LayerDescriptor } from "./store.js"

/** Everything an engine operation works with; one per open engine. */
export interface EngineContext {
  readonly layout: RootLayout
  readonly store: ImageStore
  readonly progress: ProgressEmitter
  readonly driver: DriverName | "auto"
  /** bounded concurrency of layer extraction */
  readonly concurrency: number
  /** extracts one layer blob in overlay form into an empty dir, verifying its diffID (and its digest unless options say the blob was just verified) */
  readonly extract: (
    layer: LayerDescriptor,
    diffId: Digest,
    target: string,
    onBytes: (n: number) => void,
    lowers: ReadonlyArray<string>,
    options?: ExtractOptions
  ) => Promise<void>
  /**
   * applies one layer blob in flat form (whiteouts delete) onto a rootfs dir, verifying both
   * digests; its bytes come from the store, or from `source` (an image read where it lies)
   */
  readonly applyFlat: (layer: LayerDescriptor, diffId: Digest, target: string, source?: () => Promise<LayerBytes>) => Promise<void>
}
