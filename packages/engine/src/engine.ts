// The Promise facade: `const engine = await Engine.open({ root })`. Every method runs the
// matching Effect of the EngineService, so both APIs share one implementation.
import type { ImageDestination, ImageSource } from "./location.js"
import type { Readable, Writable } from "node:stream"
import type { Store } from "@cairn/cas"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { UnpackOptions } from "./bundle.js"
import type { BuildOptions, BuildResult } from "./build/executor.js"
import type { ContainerSummary, DriverChoice } from "./containers.js"
import type { ImportOptions } from "./importExport.js"
import type { HistoryRow, ImageInspect, ImageSummary } from "./images.js"
import type { ProgressEvent, ProgressListener } from "./progress.js"
import { type EngineEvent, type EngineEventListener, type EngineOptions, EngineService, type EngineShape, makeEngine } from "./service.js"
import type { DiskUsage, FsckResult, PruneResult } from "./space.js"
import type { FileEntry, LayerAnalysis } from "./view.js"
import type { EngineError } from "./engineError.js"
import type { InfoReport } from "./info.js"
import type { CopyOptions, PullOptions, TransferOptions } from "./transfer.js"

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)

export class Engine {
  private constructor(
    readonly service: EngineShape,
    private readonly closeScope: () => Promise<void>
  ) {}

  /** Opens (creating if needed) an engine root and repairs what a killed process left. */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    const { shape, close } = await Effect.runPromise(makeEngine(options))
    return new Engine(shape, close)
  }

  /** The Effect API: a Layer providing EngineService for `options.root`. */
  static layer(options: EngineOptions = {}): Layer.Layer<EngineService, EngineError> {
    return Layer.effect(
      EngineService,
      Effect.acquireRelease(makeEngine(options), (e) => Effect.promise(() => e.close())).pipe(Effect.map((e) => EngineService.of(e.shape)))
    )
  }

  get root(): string {
    return this.service.root
  }
  /** The @cairn/cas store over the root (the root is the OCI layout); shared, do not close it. */
  get store(): Store {
    return this.service.store
  }
  /** "progress": bytes per layer/blob; "event": lifecycle changes (EngineEvent). Returns the unsubscribe function. */
  on(event: "progress", listener: ProgressListener): () => void
  on(event: "event", listener: EngineEventListener): () => void
  on(event: "progress" | "event", listener: (e: ProgressEvent | EngineEvent) => void): () => void
  on(event: string, listener: (e: never) => void): () => void {
    if (event === "event") return this.service.onEvent(listener as EngineEventListener)
    if (event === "progress") return this.service.onProgress(listener as ProgressListener)
    throw new TypeError(`unknown engine event ${JSON.stringify(event)}: "progress" or "event"`)
  }
  close(): Promise<void> {
    return this.closeScope()
  }

  // images
  importImage(source: string | ImageSource, name?: string, options: ImportOptions = {}): Promise<ImageSummary> {
    return run(this.service.importImage(source, name, options))
  }
  exportImage(image: string, dest: string | ImageDestination): Promise<void> {
    return run(this.service.exportImage(image, dest))
  }
  listImages(): Promise<Array<ImageSummary>> {
    return run(this.service.listImages())
  }
  inspectImage(image: string): Promise<ImageInspect> {
    return run(this.service.inspectImage(image))
  }
  history(image: string): Promise<Array<HistoryRow>> {
    return run(this.service.history(image))
  }
  tag(image: string, name: string): Promise<void> {
    return run(this.service.tag(image, name))
  }
  untag(name: string): Promise<void> {
    return run(this.service.untag(name))
  }
  removeImage(image: string, options: { force?: boolean } = {}): Promise<{ untagged: Array<string>; deleted: Array<string> }> {
    return run(this.service.removeImage(image, options))
  }
  unpack(image: string | ImageSource, dir: string, options: UnpackOptions = {}): Promise<void> {
    return run(this.service.unpack(image, dir, options))
  }
  bundle(image: string | ImageSource, dir: string, options: { args?: ReadonlyArray<string> } & UnpackOptions = {}): Promise<void> {
    return run(this.service.bundle(image, dir, options))
  }
  listFiles(image: string, path = "/"): Promise<Array<FileEntry>> {
    return run(this.service.listFiles(image, path))
  }
  readFile(image: string, path: string): Promise<Readable> {
    return run(this.service.readFile(image, path))
  }
  flatten(image: string, name: string): Promise<ImageSummary> {
    return run(this.service.flatten(image, name))
  }
  /** `path` of an image or container to a host path (docker cp's rules), or a tar of it to a stream */
  copyFrom(imageOrContainer: string, path: string, dest: Writable | string): Promise<void> {
    return run(this.service.copyFrom(imageOrContainer, path, dest))
  }
  /**
   * a host file or directory into a container at `path`, through its mount (made and removed for the
   * copy when it was not mounted); a stream is a tar unpacked into the directory `path`
   */
  copyTo(container: string, src: string | Readable, path: string): Promise<void> {
    return run(this.service.copyTo(container, src, path))
  }
  exportFs(imageOrContainer: string, dest: Writable | string): Promise<void> {
    return run(this.service.exportFs(imageOrContainer, dest))
  }
  analyze(image: string): Promise<Array<LayerAnalysis>> {
    return run(this.service.analyze(image))
  }
  /** `client`: the registry client to use (credentials, plain HTTP); default a new one over ~/.docker/config.json */
  pull(ref: string, name?: string, options: PullOptions = {}): Promise<ImageSummary> {
    return run(this.service.pull(ref, name, options))
  }
  push(image: string, ref: string, options: TransferOptions = {}): Promise<{ digest: string }> {
    return run(this.service.push(image, ref, options))
  }
  copy(src: string | ImageSource, dst: string | ImageDestination, options: CopyOptions = {}): Promise<{ digest: string }> {
    return run(this.service.copy(src, dst, options))
  }

  // containers
  createContainer(image: string, options: { name?: string } = {}): Promise<ContainerSummary> {
    return run(this.service.createContainer(image, options))
  }
  listContainers(): Promise<Array<ContainerSummary>> {
    return run(this.service.listContainers())
  }
  /** `outlive`: the mount must outlive this process (a CLI); as non-root that needs `cairn unshare` (userns.ts). */
  mountContainer(idOrName: string, options: { driver?: DriverChoice; outlive?: boolean } = {}): Promise<string> {
    return run(this.service.mountContainer(idOrName, options))
  }
  unmountContainer(idOrName: string): Promise<void> {
    return run(this.service.unmountContainer(idOrName))
  }
  diffContainer(idOrName: string): Promise<Array<{ kind: "A" | "C" | "D"; path: string }>> {
    return run(this.service.diffContainer(idOrName))
  }
  commitContainer(idOrName: string, options: { name?: string; message?: string; author?: string } = {}): Promise<ImageSummary> {
    return run(this.service.commitContainer(idOrName, options))
  }
  removeContainer(idOrName: string, options: { force?: boolean } = {}): Promise<void> {
    return run(this.service.removeContainer(idOrName, options))
  }

  // space, maintenance
  df(): Promise<DiskUsage> {
    return run(this.service.df())
  }
  prune(options: { dryRun?: boolean } = {}): Promise<PruneResult> {
    return run(this.service.prune(options))
  }
  fsck(options: { repair?: boolean } = {}): Promise<FsckResult> {
    return run(this.service.fsck(options))
  }
  info(): Promise<InfoReport> {
    return run(this.service.info())
  }
  /** `cairn build`: an image from CONTEXT's Containerfile (build/executor.ts) */
  build(context: string, options: BuildOptions = {}): Promise<BuildResult> {
    return run(this.service.build(context, options))
  }
}
