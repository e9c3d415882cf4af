export { Engine } from "./engine.js"
export { type EngineEvent, type EngineEventListener, EngineService, type EngineOptions, type EngineShape, makeEngine } from "./service.js"
export { type EngineError, EngineErrors, type EngineOwnError, EngineOwnErrors, isEngineError, type LowerPackageError, LowerPackageErrors } from "./engineError.js"
export * from "./errors.js"
export { EngineClosedError } from "./closed.js"
export { EngineEvents, type EventBus, EventListeners } from "./events.js"
export { CasImageStore, ContentStore, type ImageStore, type StoredImage } from "./store.js"
export { EVENT_LOG, type LoggedEvent } from "./eventLog.js"
export {
  overlaySnapshotter,
  type PreparedSnapshot,
  type SnapshotMeta,
  Snapshotter,
  type SnapshotterShape,
  type SnapshotUsage,
  type WritableDirs
} from "./snapshotter.js"
export type { ProgressEvent, ProgressListener } from "./progress.js"
export type { HistoryRow, ImageInspect, ImageSummary, LayerInfo } from "./images.js"
export type { ContainerSummary, DriverChoice } from "./containers.js"
export type { UnpackOptions } from "./bundle.js"
export type { ImportOptions } from "./importExport.js"
export type { DiskUsage, FsckResult, PruneResult } from "./space.js"
export type { FileEntry, LayerAnalysis } from "./view.js"
export type { InfoReport } from "./info.js"
export type { CopyOptions, PullOptions, TransferOptions } from "./transfer.js"
export type { BenchExtractOptions, BenchExtractReport, LayerBench } from "./benchExtract.js"
export { benchExtract } from "./benchEntry.js"
export { defaultRoot } from "./root.js"
export {
  currentHolder,
  ensureHolder,
  enterArgs,
  insideHolder,
  isHostRoot,
  type NamespaceHolder,
  NamespaceHolderError,
  NamespaceRequiredError
} from "./userns.js"
export { normalizeName } from "./reference.js"
export {
  type ArchiveFileLocation,
  type ArchiveKind,
  type ArchiveReaderLocation,
  type ArchiveWriterLocation,
  type ImageDestination,
  type ImageLocation,
  type ImageSource,
  locationName,
  type OciLayoutLocation,
  parseLocation,
  type RegistryLocation,
  type StoreLocation
} from "./location.js"
export { resolveUser, runtimeSpec, type RuntimeSpecOptions } from "./runtimeSpec.js"
// the build's light parts only: its executor (overlay, crun, the cache) loads when a build runs
export { BuildSetupError, BuildStepError, BuildSyntaxError } from "./build/errors.js"
export type { BuildOptions, BuildResult } from "./build/executor.js"
export { IgnoreMatcher } from "./build/ignore.js"
export { parseContainerfile } from "./build/parser.js"
export { engineRegistries, REGISTRIES_CONF, registriesInfo } from "./registries.js"
