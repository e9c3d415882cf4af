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
export { Annotations, Descriptor, DigestString, MediaTypeString, Size } from "./descriptor.js"
export { ImageManifest } from "./imageManifest.js"
export { ImageIndex } from "./imageIndex.js"
export { ContainerConfig, History, ImageConfig, RootFs } from "./imageConfig.js"
export { OciLayout } from "./ociLayout.js"
export {
  DockerManifest,
  DockerManifestList,
  dockerToOciIndex,
  dockerToOciManifest,
  ociToDockerIndex,
  ociToDockerManifest
} from "./docker.js"
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
  validateDocument
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
  Platform,
  type PlatformLike,
  platformRank,
  selectManifest
} from "./platform.js"
export { isAnyManifestMediaType, type ManifestSniff, sniffManifest } from "./sniff.js"
