import type {
  AmbiguousReferenceError,
  ContainerMountedError,
  ContainerNameInUseError,
  ContainerNotFoundError,
  ContainerNotMountedError,
  EngineIOError,
  ImageInUseError,
  ImageNotFoundError,
  InvalidReferenceError,
  InvalidSourceError,
  LockTimeoutError,
  PathNotFoundInImageError,
  SnapshotError,
  UnsupportedImageError
} from "./errors.js"

/** An error raised by a lower package (cas, overlay, mount, registry, oci-spec, digest), passed on unchanged. */
export interface LowerPackageError extends Error {
  readonly _tag: string
}

/** Every failure an engine operation can end with. */
export type EngineError =
  | ImageNotFoundError
  | AmbiguousReferenceError
  | ContainerNotFoundError
  | ContainerMountedError
  | ContainerNotMountedError
  | ContainerNameInUseError
  | ImageInUseError
  | InvalidReferenceError
  | InvalidSourceError
  | SnapshotError
  | LockTimeoutError
  | EngineIOError
  | UnsupportedImageError
  | PathNotFoundInImageError
  | LowerPackageError
