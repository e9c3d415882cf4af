// Every failure an engine operation can end with, as one list of classes: the engine's own and
// those of the packages below it, passed on unchanged. The list yields the union type and the guard.
import { CasErrors } from "@cairn/cas"
import { errorGuard } from "@cairn/digest"
import { MountErrors, UnmountFailedError } from "@cairn/mount"
import { OciSpecErrors } from "@cairn/oci-spec/lazy"
import { OverlayErrors } from "@cairn/overlay/errors"
import { RegistryErrors } from "@cairn/registry/errors"
import { BuildSetupError, BuildStepError, BuildSyntaxError } from "./build/errors.js"
import { EngineClosedError } from "./closed.js"
import {
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
import { NamespaceHolderError, NamespaceRequiredError } from "./userns.js"

/** The engine's own failures. */
export const EngineOwnErrors = [
  ImageNotFoundError,
  AmbiguousReferenceError,
  ContainerNotFoundError,
  ContainerMountedError,
  ContainerNotMountedError,
  ContainerNameInUseError,
  ImageInUseError,
  InvalidReferenceError,
  DriverNameError,
  InvalidSourceError,
  LayerApplyError,
  SnapshotError,
  EngineIOError,
  UnsupportedImageError,
  PathNotFoundInImageError,
  NamespaceRequiredError,
  NamespaceHolderError,
  LayerMediaTypeError,
  UnreadableStateError,
  EngineClosedError,
  BuildSyntaxError,
  BuildSetupError,
  BuildStepError
] as const

export type EngineOwnError = InstanceType<(typeof EngineOwnErrors)[number]>

/** Failures of the lower packages, passed on unchanged. */
export const LowerPackageErrors = [...CasErrors, ...OciSpecErrors, ...OverlayErrors, ...MountErrors, UnmountFailedError, ...RegistryErrors] as const

export type LowerPackageError = InstanceType<(typeof LowerPackageErrors)[number]>

/** Everything an engine operation can fail with. Anything else that escapes (a bare Node I/O error) is a defect of the engine. */
export const EngineErrors = [...EngineOwnErrors, ...LowerPackageErrors] as const

export type EngineError = InstanceType<(typeof EngineErrors)[number]>

export const isEngineError = errorGuard(EngineErrors)

/** A failure as the engine reports it: its typed errors as they are, anything else (a bare Node I/O error) as an EngineIOError of `operation` on `path`. */
export const asEngineError =
  (operation: string, path: string) =>
  (e: unknown): EngineError =>
    isEngineError(e) ? e : new EngineIOError({ operation, path, cause: e })
