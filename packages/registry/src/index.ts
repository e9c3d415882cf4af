export * from "./errors.js"
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
export type { BlobDescriptor, BlobSink, BlobSource } from "./blobTransfer.js"
export {
  type Challenge,
  type CredentialStore,
  type Credentials,
  parseChallenges,
  repositoryScope,
  staticCredentials
} from "./auth.js"
export {
  type AuthFileOptions,
  authFileCredentials,
  containersAuthCredentials,
  containersAuthFile,
  containersAuthFiles,
  type DockerConfigOptions,
  dockerConfigCredentials,
  removeAuth,
  runCredentialHelper,
  saveAuth
} from "./dockerConfig.js"
export {
  certsFor,
  DEFAULT_CERTS_DIRS,
  type HttpRequest,
  type HttpResponse,
  parseRetryAfter,
  type RequestBody,
  type RetryPolicy,
  Transport,
  type TransportOptions
} from "./transport.js"
export {
  type BlobProgress,
  DEFAULT_MANIFEST_LIMIT,
  type FetchedManifest,
  MANIFEST_ACCEPT,
  type PullBlobOptions,
  type PullBlobResult,
  type PushBlobOptions,
  type PushBlobResult,
  RegistryClient,
  type RegistryClientOptions,
  type RepositoryRef,
  type ResolvedImage,
  referrersTag
} from "./client.js"
export {
  BlockedRegistryError,
  loadRegistriesConf,
  type MirrorConfig,
  matchRegistry,
  type PullFromMirror,
  parseRegistriesConf,
  RegistriesConfError,
  type RegistriesConfig,
  type RegistryConfig,
  type Route,
  routesFor
} from "./registriesConf.js"
export { isRegistryFailure, RegistryErrors, type RegistryFailure } from "./failure.js"
export {
  type PullAllResult,
  pullAllPlatforms,
  pullAllPlatformsEffect,
  type PulledBlob,
  type PullOptions,
  type PullResult,
  pullImage,
  pullImageEffect
} from "./pull.js"
export { type PushOptions, type PushResult, pushImage, pushImageEffect } from "./push.js"
export { copyImage, copyImageEffect, registrySource } from "./copy.js"
export { Registry, type RegistryShape } from "./registry.js"
