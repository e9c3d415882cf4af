export {
  AuthError,
  BlobNotFoundError,
  BlobSinkError,
  InvalidReferenceError,
  ManifestDigestError,
  ManifestTooLargeError,
  RegistryError,
  TransportError,
  UnsupportedManifestError
} from "./errors.js"
export {
  DEFAULT_TAG,
  DOCKER_HUB,
  DOCKER_HUB_ENDPOINT,
  formatReference,
  isLoopbackRegistry,
  parseReference,
  parseRepository,
  type Reference,
  referenceTarget,
  registryHost
} from "./reference.js"
