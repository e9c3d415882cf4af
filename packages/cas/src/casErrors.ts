// Every typed failure of @cairn/cas (and of the digest and document checks it runs), as one list
// that yields both the union type and the guard.
import { DigestMismatchError, errorGuard, InvalidDigestError, SizeMismatchError, UnsupportedAlgorithmError } from "@cairn/digest"
import { NoMatchingPlatformError, OciDecodeError } from "@cairn/oci-spec/lazy"
import {
  ArchiveFormatError,
  BlobNotFoundError,
  GraphCycleError,
  GraphDepthError,
  GraphDocumentError,
  IndexFileError,
  IngestBusyError,
  IngestOffsetError,
  InvalidTagError,
  LayoutError,
  LeaseNotFoundError,
  LockTimeoutError,
  StoreIoError,
  TagNotFoundError,
  UnsafeArchivePathError,
  UnsupportedLayerError
} from "./errors.js"

export const CasErrors = [
  ArchiveFormatError,
  BlobNotFoundError,
  DigestMismatchError,
  GraphCycleError,
  GraphDepthError,
  GraphDocumentError,
  IndexFileError,
  IngestBusyError,
  IngestOffsetError,
  InvalidDigestError,
  InvalidTagError,
  LayoutError,
  LeaseNotFoundError,
  LockTimeoutError,
  NoMatchingPlatformError,
  OciDecodeError,
  SizeMismatchError,
  StoreIoError,
  TagNotFoundError,
  UnsafeArchivePathError,
  UnsupportedAlgorithmError,
  UnsupportedLayerError
] as const

/** Every typed failure of @cairn/cas. */
export type CasError = InstanceType<(typeof CasErrors)[number]>

export const isCasError = errorGuard(CasErrors)
