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
export {
  type DigestError,
  DigestErrors,
  DigestMismatchError,
  type ErrorClass,
  errorGuard,
  InvalidDigestError,
  isDigestError,
  SizeMismatchError,
  UnsupportedAlgorithmError
} from "./errors.js"
export {
  backendFromName,
  createHasher,
  defaultBackend,
  type Hasher,
  type HasherBackend,
  hashWasmBackend,
  nodeBackend,
  resumeHasher,
  setDefaultHasher,
  wasmBackend
} from "./hasher.js"
export { giveBack, isLent, keep, lend, share } from "./lend.js"
export { BASELINE_SUSPECT_MB_PER_SEC, type KernelName, type KernelRate, kernelSelfTest, measureKernel } from "./kernel.js"
export { OFF_THREAD_MIN_BYTES, OffThreadHasher, offThreadHashStats, resetOffThreadHashStats } from "./offthread.js"
export {
  digestBytes,
  digestReadable,
  hashingStream,
  type VerifyingStream,
  type VerifyOptions,
  verifyingStream
} from "./streams.js"
