import type * as Effect from "effect/Effect"
import type { MountError, UnmountFailedError } from "./errors.js"
import type { OverlaySpec } from "./spec.js"
import type { UnmountOptions } from "./unmount.js"

/**
 * - kernel: overlayfs via mount(2) (a long-lived helper) or mount(8), needs root or CAP_SYS_ADMIN;
 * - rootless: kernel overlayfs inside a new user + mount namespace (userxattr);
 * - fuse: fuse-overlayfs in user space;
 * - copy: the merged tree materialized into the target (works anywhere, slower).
 */
export type DriverName = "kernel" | "rootless" | "fuse" | "copy"

export const DRIVER_NAMES: ReadonlyArray<DriverName> = ["kernel", "rootless", "fuse", "copy"]

/** A mounted overlay, owned by whoever holds it until `unmount`. */
export interface ActiveMount {
  readonly driver: DriverName
  readonly spec: OverlaySpec
  /**
   * Where this process sees the merged tree: the target, except for the rootless driver,
   * whose mount lives in another mount namespace and is reached via /proc/<pid>/root.
   */
  readonly path: string
  readonly unmount: (options?: UnmountOptions) => Effect.Effect<void, UnmountFailedError>
}

/** One way of performing an OverlaySpec. Every driver passes the same conformance suite. */
export interface Driver {
  readonly name: DriverName
  readonly mount: (spec: OverlaySpec) => Effect.Effect<ActiveMount, MountError>
}
