import * as Effect from "effect/Effect"
import type { ActiveMount, Driver } from "../driver.js"
import { performMount } from "../mount-command.js"
import { planOverlayMountEffect } from "../plan.js"
import { preflight } from "../preflight.js"
import { overlaySpecEffect } from "../spec.js"
import { unmountEffect } from "../unmount.js"

/** fusermount3 -u works for the mount's owner without privilege; root may use umount(8). */
const fuseUnmount = {
  file: "fusermount3",
  args: (target: string, lazy: boolean) => (lazy ? ["-u", "-z", target] : ["-u", target])
}

/**
 * fuse-overlayfs (user space overlay). Same lowerdir/upperdir/workdir syntax as the kernel,
 * no page limit (options go through argv), none of the kernel's feature options.
 */
export const fuseDriver: Driver = {
  name: "fuse",
  mount: (input) =>
    Effect.gen(function*() {
      const spec = yield* overlaySpecEffect(input)
      yield* preflight(spec)
      // kernel feature options (userxattr, redirect_dir, ...) mean nothing to fuse-overlayfs
      const plan = yield* planOverlayMountEffect({ ...spec, options: {} }, { pageSize: 1 << 20, bindSingleLower: false })
      yield* performMount(plan, { driver: "fuse", file: "fuse-overlayfs", args: (p) => ["-o", p.data, p.target] })
      const mounted: ActiveMount = {
        driver: "fuse",
        spec,
        path: spec.target,
        unmount: (options) => unmountEffect(spec.target, { program: fuseUnmount, ...options })
      }
      return mounted
    })
}
