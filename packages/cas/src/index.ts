export {
  type BlobDescriptorLike,
  type BlobInfo,
  type BlobInput,
  BlobStore,
  type Expected,
  type GetOptions,
  type PutResult,
  type StagedBlob
} from "./blobStore.js"
export * from "./errors.js"
export type { FsckOptions, FsckReport } from "./fsck.js"
export { writeFileAtomic } from "./atomicFile.js"
export { holdLock, type LockHandle, type LockOptions, withLock } from "./lockFile.js"
export { type GcOptions, type GcReport, INGEST_GRACE_MS } from "./gc.js"
export { childrenOf, type GraphNode, type GraphSource, type WalkOptions, type WalkResult, walkGraph } from "./graph.js"
export { Layout, type OpenOptions } from "./layout.js"
export type { Lease, LeaseOptions } from "./leases.js"
export { isValidRefName, REF_NAME, validateRefName } from "./refName.js"
export { Store } from "./store.js"
export type { TagEntry, TagTarget } from "./tags.js"
export type { ExportImage } from "./archiveExport.js"
export type { ImportedImage, ImportOptions, ImportReport } from "./archiveImport.js"
export type { CopyReport, CopyRoot } from "./copy.js"
export { type CasError, ContentStore, type ContentStoreShape, makeContentStore, openStore } from "./contentStore.js"
export { CasErrors, isCasError } from "./casErrors.js"
