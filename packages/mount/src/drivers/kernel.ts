import { Effect } from "effect"
import type { ActiveMount, Driver } from "../driver.js"
import { checkStackDepth, mountToolEffect } from "../kernel.js"
import { MOUNT_FLAGS, mountArgs, performMount } from "../mount-command.js"
import { planOverlayMountEffect } from "../plan.js"
import { preflight } from "../preflight.js"
import { overlaySpecEffect } from "../spec.js"
import { unmountEffect } from "../unmount.js"

/** Kernel overlayfs through util-linux mount(8); needs root or CAP_SYS_ADMIN. */
export const kernelDriver: Driver = {
  name: "kernel",
  mount: (input) =>
    Effect.gen(function*() {
      const spec = yield* overlaySpecEffect(input)
      yield* preflight(spec)
      yield* checkStackDepth(spec.lowers.length)
      const { lowerdirPlus } = yield* mountToolEffect
      const plan = yield* planOverlayMountEffect(spec, { lowerdirPlus })
      yield* performMount(plan, { driver: "kernel", file: "mount", args: (p) => [...MOUNT_FLAGS, ...mountArgs(p)] })
      const mounted: ActiveMount = {
        driver: "kernel",
        spec,
        path: spec.target,
        unmount: (options) => unmountEffect(spec.target, options)
      }
      return mounted
    })
}
