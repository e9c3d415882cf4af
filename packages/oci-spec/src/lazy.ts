// @cairn/oci-spec/lazy: everything of @cairn/oci-spec but the schema values, so importing it loads
// no effect/Schema (about 80 modules, a third of a CLI command's start-up). The decoders load the
// schemas at their first call; the document types are here as types. `@cairn/oci-spec` itself
// exports this and the schemas.
export {
  type LayerCompression,
  DockerMediaType,
  dockerToOciMediaType,
  EmptyJsonDescriptor,
  isConfigMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isNonDistributable,
  layerCompression,
  mayBeAbsent,
  OCI_LAYOUT_VERSION,
  OciMediaType,
  ociToDockerMediaType
} from "./mediaTypes.js"
export type { Descriptor } from "./descriptor.js"
export type { ImageManifest } from "./imageManifest.js"
export type { ImageIndex } from "./imageIndex.js"
export type { ContainerConfig, History, ImageConfig, RootFs } from "./imageConfig.js"
export type { OciLayout } from "./ociLayout.js"
export type { DockerManifest, DockerManifestList } from "./docker.js"
export type { Platform } from "./platformSchema.js"
export { dockerToOciIndex, dockerToOciManifest, ociToDockerIndex, ociToDockerManifest } from "./dockerConvert.js"
export { type DocumentKind, OciDecodeError } from "./ociDecodeError.js"
export { isOciSpecError, type OciSpecError, OciSpecErrors } from "./ociErrors.js"
export {
  asOciIndex,
  type Decoded,
  type DecodeOptions,
  type DocumentTypes,
  decodeConfig,
  decodeDescriptor,
  decodeDocument,
  type AnyManifest,
  decodeAnyManifest,
  decodeDocumentEffect,
  type ManifestKind,
  decodeDockerManifest,
  decodeDockerManifestList,
  decodeIndex,
  decodeManifest,
  decodeOciLayout,
  validateDocumentAsync
} from "./decode.js"
export { canonicalJson, descriptorFor, type Encoded, encodeCanonical } from "./canonical.js"
export {
  formatPlatform,
  hostPlatform,
  InvalidPlatformError,
  matchPlatform,
  NoMatchingPlatformError,
  type NormalizedPlatform,
  normalizePlatform,
  parsePlatform,
  type PlatformLike,
  platformRank,
  selectManifest
} from "./platform.js"
export { isAnyManifestMediaType, type ManifestSniff, sniffManifest } from "./sniff.js"
