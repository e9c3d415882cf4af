import * as Data from "effect/Data"

/** The spec itself is malformed (no lowers, upper without work, relative path...). */
export class InvalidSpecError extends Data.TaggedError("InvalidSpecError")<{
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `invalid overlay spec: ${this.field}: ${this.reason}`
  }
}

/** A lower, upper, work or target path does not exist. */
export class PathNotFoundError extends Data.TaggedError("PathNotFoundError")<{
  readonly role: string
  readonly path: string
}> {
  override get message() {
    return `${this.role} ${this.path} does not exist: create it (mkdir -p) or fix the path`
  }
}

/** A path that must be a directory is something else. */
export class NotADirectoryError extends Data.TaggedError("NotADirectoryError")<{
  readonly role: string
  readonly path: string
  readonly actual: string
}> {
  override get message() {
    return `${this.role} ${this.path} is a ${this.actual}, not a directory: overlayfs stacks directories only`
  }
}

/** overlayfs requires workdir and upperdir on the same filesystem (rename between them). */
export class CrossFilesystemWorkDirError extends Data.TaggedError("CrossFilesystemWorkDirError")<{
  readonly upper: string
  readonly work: string
  readonly upperDevice: number
  readonly workDevice: number
}> {
  override get message() {
    return `work dir ${this.work} (device ${this.workDevice}) is on another filesystem than upper dir ${this.upper} (device ${this.upperDevice}): put both under one directory of the same filesystem`
  }
}

/** The upper dir sits on a filesystem overlayfs cannot write to (overlay, fuse, nfs, vfat, read-only...). */
export class UnsupportedUpperFilesystemError extends Data.TaggedError("UnsupportedUpperFilesystemError")<{
  readonly path: string
  readonly filesystem: string
  readonly reason: string
}> {
  override get message() {
    return `upper dir ${this.path} is on ${this.filesystem}, which cannot host an overlay upper layer (${this.reason}): move upper and work to a local ext4, xfs, btrfs or tmpfs directory`
  }
}

/** Mounting on a path that already is a mount point would hide (and later leak) the existing mount. */
export class TargetIsMountPointError extends Data.TaggedError("TargetIsMountPointError")<{
  readonly target: string
  readonly filesystem: string
}> {
  override get message() {
    return `target ${this.target} is already a mount point (${this.filesystem}): unmount it first (umount ${this.target}) or run cleanupStale() on its root`
  }
}

/** More lower layers than the kernel's overlayfs stack limit. */
export class TooManyLayersError extends Data.TaggedError("TooManyLayersError")<{
  readonly layers: number
  readonly limit: number
}> {
  override get message() {
    return `${this.layers} lower layers exceed the kernel's overlayfs limit of ${this.limit}: flatten some layers (squash) or use the copy driver`
  }
}

/** Even the shortest link names do not fit the mount data in one page. */
export class OptionsTooLongError extends Data.TaggedError("OptionsTooLongError")<{
  readonly length: number
  readonly limit: number
}> {
  override get message() {
    return `overlay mount options are ${this.length} bytes, over the ${this.limit}-byte page limit of mount(2): use fewer layers or shorter paths`
  }
}

export interface DriverRejection {
  readonly driver: string
  readonly reason: string
}

/** No driver can mount here (no privilege and no fallback allowed or available). */
export class NoUsableDriverError extends Data.TaggedError("NoUsableDriverError")<{
  readonly rejected: ReadonlyArray<DriverRejection>
}> {
  override get message() {
    const why = this.rejected.map((r) => `${r.driver}: ${r.reason}`).join("; ")
    return `no overlay driver is usable here (${why}): run as root, enable unprivileged user namespaces, install fuse-overlayfs, or allow the copy driver`
  }
}

/** A helper tool (mount, unshare, fuse-overlayfs...) is not installed. */
export class ToolMissingError extends Data.TaggedError("ToolMissingError")<{
  readonly tool: string
}> {
  override get message() {
    return `${this.tool} is not installed or not on PATH: install it (util-linux, fuse-overlayfs or fuse3 Debian packages)`
  }
}

/** The mount call itself failed. */
export class MountFailedError extends Data.TaggedError("MountFailedError")<{
  readonly driver: string
  readonly target: string
  /** What was run: a mount(8) command line, or the mount(2) call the helper made. */
  readonly command: string
  /** The program's exit status; 32 (mount(8)'s "mount failure") when mount(2) itself returned an error. */
  readonly exitCode: number
  /** What the program printed, or for mount(2) the errno text ("Invalid argument"). */
  readonly stderr: string
  /** The errno name ("EINVAL", "EBUSY") when mount(2) was called directly (the helper). */
  readonly errno?: string | undefined
  /** The latest overlayfs line of the kernel log, when readable: usually the real reason. */
  readonly kernelLog?: string | undefined
}> {
  override get message() {
    const hint = /permission denied|not permitted/i.test(this.stderr)
      ? " (not privileged: run as root or use the rootless driver)"
      : this.kernelLog !== undefined
        ? ` (kernel log: "${this.kernelLog}")`
        : " (see dmesg for the kernel's reason)"
    if (this.errno !== undefined) {
      const call = this.command.length > 300 ? `${this.command.slice(0, 300)}…` : this.command
      return `${this.driver} mount at ${this.target} failed: ${call}: ${this.errno} (${this.stderr.trim()})${hint}`
    }
    return `${this.driver} mount at ${this.target} failed with exit code ${this.exitCode}: ${this.stderr.trim() || "no output"}${hint}`
  }
}

/**
 * The process that makes mount(2)/umount2(2) calls (perl) exited, or could not start, before
 * answering. Whether the call took effect is unknown to it: callers check mountinfo.
 */
export class MountHelperExitedError extends Data.TaggedError("MountHelperExitedError")<{
  readonly pid: number | undefined
  readonly exitCode: number | null
  readonly signal: string | null
  /** "was killed by SIGKILL", "exited with code 255", "could not start: spawn perl ENOENT". */
  readonly reason: string
  /** The helper's last stderr output (perl's own complaint), if any. */
  readonly stderr: string
  /** The call that was pending, when known. */
  readonly call?: string | undefined
}> {
  override get message() {
    return `the mount(2) helper process (perl${this.pid === undefined ? "" : `, pid ${this.pid}`}) ${this.reason} before answering${this.call === undefined ? "" : ` ${this.call}`}${this.stderr === "" ? "" : `: ${this.stderr}`}: the next call starts a new helper; CAIRN_MOUNT_HELPER=0 uses mount(8) instead`
  }
}

/** Unmounting failed even after retries (still busy, or not a mount). */
export class UnmountFailedError extends Data.TaggedError("UnmountFailedError")<{
  readonly target: string
  readonly attempts: number
  /** What umount(8) printed, or for umount2(2) the errno name and text ("EBUSY: Device or resource busy"). */
  readonly stderr: string
  /** The errno name of the last umount2(2) call ("EBUSY"), when the helper made it. */
  readonly errno?: string | undefined
}> {
  override get message() {
    return `unmount of ${this.target} failed after ${this.attempts} attempts: ${this.stderr.trim()}: stop processes using it (fuser -m ${this.target}) or unmount lazily ({ lazy: true })`
  }
}

/** An I/O error on a path while preparing or materializing a mount. */
export class FileSystemError extends Data.TaggedError("FileSystemError")<{
  readonly operation: string
  readonly path: string
  readonly code: string
  readonly detail: string
}> {
  override get message() {
    return `${this.operation} ${this.path} failed (${this.code}): ${this.detail}`
  }
}

/** Every typed failure of @cairn/mount, as one list: the union type and the guard. */
export const MountErrors = [
  InvalidSpecError,
  PathNotFoundError,
  NotADirectoryError,
  CrossFilesystemWorkDirError,
  UnsupportedUpperFilesystemError,
  TargetIsMountPointError,
  TooManyLayersError,
  OptionsTooLongError,
  NoUsableDriverError,
  ToolMissingError,
  MountFailedError,
  MountHelperExitedError,
  FileSystemError
] as const

export type MountError = InstanceType<(typeof MountErrors)[number]>

// the same guard as @cairn/digest's errorGuard gives (this package depends on nothing of cairn's)
export const isMountError = (e: unknown): e is MountError => MountErrors.some((k) => e instanceof k)
