export { type CleanupReport, cleanupStale, cleanupStaleEffect } from "./cleanup.js"
export { type DetectReport, type DriverVerdict, chooseDriver, detect, detectEffect, DRIVERS } from "./detect.js"
export { type ActiveMount, type Driver, type DriverName, DRIVER_NAMES } from "./driver.js"
export { copyDriver } from "./drivers/copy.js"
export { fuseDriver } from "./drivers/fuse.js"
export { kernelDriver } from "./drivers/kernel.js"
export { rootlessDriver } from "./drivers/rootless.js"
export * from "./errors.js"
export {
  DEFAULT_MAX_STACK_DEPTH,
  type KernelVersion,
  kernelVersion,
  maxStackDepth,
  maxStackDepthEffect,
  type MountTool,
  mountToolEffect,
  type StackDepth
} from "./kernel.js"
export { acquireMount, makeMounter, type Mount, mount, Mounter, type MounterShape, type MountOptions, mountOverlay } from "./mount.js"
export { listMounts, listMountsEffect, type MountInfo, mountAt, mountsUnder, parseMountInfo, unescapeMountField } from "./mountinfo.js"
export { type RunInNamespaceOptions, type RunResult, runInNamespace, runInNamespaceEffect, UNSHARE_ARGS } from "./namespace.js"
export { type MountPlan, type PlanOptions, planOverlayMount, type ShortLink } from "./plan.js"
export { defaultMountState, MountRuntime, MountState } from "./state.js"
export { featureOptions, type OverlayOptions, type OverlaySpec, overlaySpec } from "./spec.js"
export { unmount, unmountEffect, type UnmountOptions } from "./unmount.js"
