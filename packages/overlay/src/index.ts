// Tar codec (contract: team CONVENTIONS.md, "@cairn/overlay tar codec")
export { BLOCK_SIZE, type EntryType, headerChecksum, makeHeader, type TarHeader } from "./tar/header.js"
export { parseNumeric, parsePax, readTar, type TarEntry } from "./tar/reader.js"
// Whiteouts (image-spec layer.md) and their overlayfs form
export {
  classifyWhiteout,
  isWhiteoutDevice,
  OPAQUE_WHITEOUT,
  OVERLAY_OPAQUE_VALUE,
  type OverlayXattrNamespace,
  overlayOpaqueXattr,
  overlayWhiteoutXattr,
  ROOTLESS_XATTR,
  WHITEOUT_DEVICE,
  WHITEOUT_META_PREFIX,
  WHITEOUT_PREFIX,
  type WhiteoutKind,
  whiteoutName
} from "./whiteout.js"
// Errors
export * from "./errors.js"
// Compression detection and streaming decompression
export {
  type Compression,
  createDecompressor,
  type DecompressOptions,
  decompress,
  detectCompression,
  nativeZstdAvailable,
  type ZstdDecoder
} from "./compression.js"
// Applying layers (flat or overlayfs form) and resolving paths inside a root
export { type ApplyLayerError, applyLayer, applyLayers, OFF_THREAD_MIN_BYTES } from "./apply.js"
export { applyLayerEffect } from "./applyEffect.js"
export type { ApplyForm, ApplyOptions, ApplyResult, ApplyWarning, OverlayFormOptions } from "./applyOptions.js"
export { settleImplicitDirs } from "./copyUp.js"
export { fileCompression } from "./layerReader.js"
export { rootlessOwnerXattr } from "./rootless.js"
export { cleanComponents, RootPath } from "./rootpath.js"
// Writing layers (overlay-diff): tar writer, diffs, flatten, merged view, analysis
export { type TarWriteError, TarWriter } from "./tar/writer.js"
export {
  type Change,
  changes,
  changesUpper,
  type DiffOptions,
  type DiffResult,
  diffDirs,
  diffUpper
} from "./diff.js"
export {
  LAYER_MEDIA_TYPES,
  type LayerCompression,
  type LayerOutputOptions,
  type LayerResult,
  type MtimeOptions,
  nativeZstdCompress,
  normalizeMtime,
  writeLayer
} from "./diff-output.js"
export { type FlattenOptions, flatten } from "./flatten.js"
export {
  type ContentRef,
  type IndexObserver,
  type LayerSource,
  layerBody,
  MergedView,
  type ViewEntry
} from "./view.js"
export { analyzeLayers, type LayerAnalysis, type StackAnalysis } from "./analysis.js"
export { type DiffError, diffDirsEffect, diffUpperEffect } from "./diff.js"
export type { LayerWriteFailure } from "./diff-output.js"
export { flattenEffect } from "./flatten.js"
export type { ViewBuildError } from "./view.js"
