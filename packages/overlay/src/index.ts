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
export {
  ApplyEntryError,
  DecompressionError,
  DiffIdMismatchError,
  LayerDigestMismatchError,
  showPath,
  TarChecksumError,
  TarFormatError,
  TarTruncatedError,
  UnsafeEntryError
} from "./errors.js"
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
export {
  type ApplyForm,
  type ApplyLayerError,
  type ApplyOptions,
  type ApplyResult,
  type ApplyWarning,
  applyLayer,
  applyLayerEffect,
  applyLayers,
  type OverlayFormOptions,
  rootlessOwnerXattr
} from "./apply.js"
export { cleanComponents, RootPath } from "./rootpath.js"
