import * as Data from "effect/Data"

/** No local image answers to the name, digest or id prefix given. */
export class ImageNotFoundError extends Data.TaggedError("ImageNotFoundError")<{
  readonly image: string
  /** why a near miss did not count (an ID prefix under 12 hex characters) */
  readonly reason?: string
}> {
  override get message() {
    if (this.reason !== undefined) return `no image ${JSON.stringify(this.image)}: ${this.reason}`
    return `no image ${JSON.stringify(this.image)} in this root: list them with \`cairn images\`, or import/pull it first`
  }
}

/** A short id or hex prefix matches more than one image or container. */
export class AmbiguousReferenceError extends Data.TaggedError("AmbiguousReferenceError")<{
  readonly input: string
  readonly matches: ReadonlyArray<string>
}> {
  override get message() {
    return `${JSON.stringify(this.input)} matches ${this.matches.length} objects (${this.matches.slice(0, 4).join(", ")}): give more characters`
  }
}

export class ContainerNotFoundError extends Data.TaggedError("ContainerNotFoundError")<{
  readonly container: string
}> {
  override get message() {
    return `no container ${JSON.stringify(this.container)} in this root: list them with \`cairn ps\``
  }
}

/** The container is mounted, and the operation needs it unmounted (or it is mounted twice). */
export class ContainerMountedError extends Data.TaggedError("ContainerMountedError")<{
  readonly container: string
  readonly mountpoint: string
}> {
  override get message() {
    return `container ${this.container} is already mounted at ${this.mountpoint}: unmount it first (cairn umount), or remove it with --force`
  }
}

export class ContainerNotMountedError extends Data.TaggedError("ContainerNotMountedError")<{
  readonly container: string
}> {
  override get message() {
    return `container ${this.container} is not mounted`
  }
}

/** A container name that is already taken. */
export class ContainerNameInUseError extends Data.TaggedError("ContainerNameInUseError")<{
  readonly name: string
  readonly container: string
}> {
  override get message() {
    return `container name ${JSON.stringify(this.name)} is already used by ${this.container.slice(0, 12)}: pick another name or remove it`
  }
}

export class ImageInUseError extends Data.TaggedError("ImageInUseError")<{
  readonly image: string
  readonly containers: ReadonlyArray<string>
}> {
  override get message() {
    return `image ${this.image} is used by container(s) ${this.containers.map((c) => c.slice(0, 12)).join(", ")}: remove them first`
  }
}

/** An image name, transport string or reference that cannot be parsed. */
export class InvalidReferenceError extends Data.TaggedError("InvalidReferenceError")<{
  readonly input: string
  readonly reason: string
}> {
  override get message() {
    return `invalid reference ${JSON.stringify(this.input)}: ${this.reason}`
  }
}

/** A mount driver name that is not one of the drivers. */
export class DriverNameError extends Data.TaggedError("DriverNameError")<{
  readonly input: string
  readonly reason: string
}> {
  override get message() {
    return `invalid mount driver ${JSON.stringify(this.input)}: ${this.reason}`
  }
}

/** A source (layout, archive) that does not hold what an import needs. */
export class InvalidSourceError extends Data.TaggedError("InvalidSourceError")<{
  readonly source: string
  readonly reason: string
  /** what was being done with `source` (default "import") */
  readonly action?: string
}> {
  override get message() {
    return `cannot ${this.action ?? "import"} ${this.source}: ${this.reason}`
  }
}

/** A snapshot dir whose contents do not match what its metadata or chain says. */
export class SnapshotError extends Data.TaggedError("SnapshotError")<{
  readonly chainId: string
  readonly reason: string
}> {
  override get message() {
    return `snapshot ${this.chainId}: ${this.reason}`
  }
}

/** A cross-process lock of the engine root could not be taken in time: the store's error, one class for both. */
export { LockTimeoutError } from "@cairn/cas"

/** A filesystem operation of the engine itself failed. */
export class EngineIOError extends Data.TaggedError("EngineIOError")<{
  readonly operation: string
  readonly path: string
  readonly cause: unknown
}> {
  override get message() {
    const c = this.cause as { code?: string; message?: string } | undefined
    // Node's messages already start with the code ("EACCES: permission denied, …"): say it once
    const text = c?.message ?? String(this.cause)
    const reason = c?.code && !text.startsWith(`${c.code}:`) ? `${c.code}: ${text}` : text
    return `${this.operation} ${this.path} failed: ${reason}`
  }
}

/** The image's platform or media types are something cairn cannot run or unpack. */
export class UnsupportedImageError extends Data.TaggedError("UnsupportedImageError")<{
  readonly image: string
  readonly reason: string
}> {
  override get message() {
    return `image ${this.image}: ${this.reason}`
  }
}

/** A path inside an image that does not exist (ls/cat). */
export class PathNotFoundInImageError extends Data.TaggedError("PathNotFoundInImageError")<{
  readonly image: string
  readonly path: string
}> {
  override get message() {
    return `${this.path}: no such file or directory in ${this.image}`
  }
}

/**
 * A layer failed to apply (its bytes did not match a digest, its tar was bad, a write failed):
 * which image, which layer (1-based index of how many, blob digest), and where it was going.
 * Nothing of the failed operation is left there. `cause` is the lower package's typed error.
 */
export class LayerApplyError extends Data.TaggedError("LayerApplyError")<{
  readonly image: string
  readonly index: number
  readonly layers: number
  readonly digest: string
  readonly target: string
  readonly cause: unknown
}> {
  override get message() {
    const c = this.cause as { message?: string } | undefined
    return `layer ${this.index + 1} of ${this.layers} (${this.digest}) of ${this.image}: ${c?.message ?? String(this.cause)}; nothing was written to ${this.target}`
  }
}

/** Prune/GC met state it cannot read; it stops rather than treat what it may use as unused (as containerd's GC does). */
export class UnreadableStateError extends Data.TaggedError("UnreadableStateError")<{
  readonly what: string
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `cannot read ${this.what} (${this.path}): ${this.reason}; nothing was removed: repair or remove it (see \`cairn fsck\`), then prune again`
  }
}

/**
 * A layer cairn will not extract: its media type is not a known layer type (store, copy and push
 * keep it as it is), or its bytes are not what the media type declares (gzip declared, zstd found).
 */
export class LayerMediaTypeError extends Data.TaggedError("LayerMediaTypeError")<{
  readonly layer: string
  readonly mediaType: string
  readonly reason: string
}> {
  override get message() {
    return `layer ${this.layer} (${this.mediaType}): ${this.reason}`
  }
}
