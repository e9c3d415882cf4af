export { chainId, chainIds } from "./chainId.js"
export {
  type Algorithm,
  algorithms,
  type Digest,
  digestAlgorithm,
  digestHex,
  formatDigest,
  isDigest,
  parseDigest
} from "./digest.js"
export { DigestMismatchError, InvalidDigestError, SizeMismatchError, UnsupportedAlgorithmError } from "./errors.js"
export {
  createHasher,
  defaultBackend,
  type Hasher,
  type HasherBackend,
  nodeBackend,
  resumeHasher,
  wasmBackend
} from "./hasher.js"
export { OFF_THREAD_MIN_BYTES, OffThreadHasher } from "./offthread.js"
export {
  digestBytes,
  digestReadable,
  hashingStream,
  type VerifyingStream,
  type VerifyOptions,
  verifyingStream
} from "./streams.js"
