// What the service needs from @cairn/engine's Promise facade, stated structurally so the
// service depends on operations, not on the engine's internal types.
import type { Readable } from "node:stream"
import type { Store } from "@cairn/cas"

export interface ServedEngine {
  readonly root: string
  /** the @cairn/cas store over the root: the /v2 endpoints serve it */
  readonly store: Store
  on(event: "progress" | "event", listener: (e: unknown) => void): () => void
  importImage(source: string, name?: string): Promise<unknown>
  exportImage(image: string, dest: string): Promise<void>
  listImages(): Promise<ReadonlyArray<unknown>>
  inspectImage(image: string): Promise<unknown>
  history(image: string): Promise<ReadonlyArray<unknown>>
  tag(image: string, name: string): Promise<void>
  removeImage(image: string, options?: { force?: boolean }): Promise<unknown>
  createContainer(image: string, options?: { name?: string }): Promise<unknown>
  listContainers(): Promise<ReadonlyArray<unknown>>
  mountContainer(idOrName: string): Promise<string>
  unmountContainer(idOrName: string): Promise<void>
  diffContainer(idOrName: string): Promise<ReadonlyArray<unknown>>
  commitContainer(idOrName: string, options?: { name?: string; message?: string; author?: string }): Promise<unknown>
  removeContainer(idOrName: string, options?: { force?: boolean }): Promise<void>
  df(): Promise<unknown>
  prune(options?: { dryRun?: boolean }): Promise<unknown>
  fsck(options?: { repair?: boolean }): Promise<unknown>
  readFile?(image: string, path: string): Promise<Readable>
  close(): Promise<void>
}
