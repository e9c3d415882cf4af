import type * as Cas from "@cairn/cas"
import type { DigestMismatchError, InvalidDigestError, SizeMismatchError, UnsupportedAlgorithmError } from "@cairn/digest"
import type { MountError, UnmountFailedError } from "@cairn/mount"
import type { InvalidPlatformError, NoMatchingPlatformError, OciDecodeError } from "@cairn/oci-spec"
import type {
  ApplyLayerError,
  DiffSourceError,
  LayerWriteError,
  TarWriteError,
  UnsupportedUpperError,
  ViewPathError,
  XattrReadError,
  ZstdUnavailableError
} from "@cairn/overlay"
import type { RegistryFailure } from "@cairn/registry"
import type {
  AmbiguousReferenceError,
  ContainerMountedError,
  ContainerNameInUseError,
  ContainerNotFoundError,
  ContainerNotMountedError,
  DriverNameError,
  EngineIOError,
  ImageInUseError,
  ImageNotFoundError,
  InvalidReferenceError,
  InvalidSourceError,
  LayerApplyError,
  LayerMediaTypeError,
  PathNotFoundInImageError,
  SnapshotError,
  UnreadableStateError,
  UnsupportedImageError
} from "./errors.js"
import type { NamespaceHolderError, NamespaceRequiredError } from "./userns.js"
import type { EngineClosedError } from "./closed.js"

/** The engine's own failures. */
export type EngineOwnError =
  | ImageNotFoundError
  | AmbiguousReferenceError
  | ContainerNotFoundError
  | ContainerMountedError
  | ContainerNotMountedError
  | ContainerNameInUseError
  | ImageInUseError
  | InvalidReferenceError
  | DriverNameError
  | InvalidSourceError
  | LayerApplyError
  | SnapshotError
  | EngineIOError
  | UnsupportedImageError
  | PathNotFoundInImageError
  | NamespaceRequiredError
  | NamespaceHolderError
  | LayerMediaTypeError
  | UnreadableStateError
  | EngineClosedError

/** Failures of the lower packages, passed on unchanged. */
export type LowerPackageError =
  | Cas.ArchiveFormatError
  | Cas.BlobNotFoundError
  | Cas.GraphCycleError
  | Cas.GraphDepthError
  | Cas.GraphDocumentError
  | Cas.IndexFileError
  | Cas.IngestBusyError
  | Cas.IngestOffsetError
  | Cas.InvalidTagError
  | Cas.LayoutError
  | Cas.LeaseNotFoundError
  | Cas.LockTimeoutError
  | Cas.StoreIoError
  | Cas.TagNotFoundError
  | Cas.UnsafeArchivePathError
  | Cas.UnsupportedLayerError
  | DigestMismatchError
  | SizeMismatchError
  | InvalidDigestError
  | UnsupportedAlgorithmError
  | OciDecodeError
  | NoMatchingPlatformError
  | InvalidPlatformError
  | ApplyLayerError
  | DiffSourceError
  | LayerWriteError
  | TarWriteError
  | UnsupportedUpperError
  | ViewPathError
  | XattrReadError
  | ZstdUnavailableError
  | MountError
  | UnmountFailedError
  | RegistryFailure

/**
 * Every failure an engine operation can end with. Anything else that escapes (a bare Node I/O
 * error) is a defect of the engine, not part of the contract.
 */
export type EngineError = EngineOwnError | LowerPackageError
