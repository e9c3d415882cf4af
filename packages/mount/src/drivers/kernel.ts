import * as Effect from "effect/Effect"
import type { ActiveMount, Driver } from "../driver.js"
import { checkStackDepth, mountToolEffect } from "../kernel.js"
import { MOUNT_FLAGS, mountArgs, performMount, performSyscallMount } from "../mount-command.js"
import { planOverlayMountEffect } from "../plan.js"
import { preflight } from "../preflight.js"
import { overlaySpecEffect } from "../spec.js"
import { currentHelperStatus } from "../helper.js"
import { unmountEffect } from "../unmount.js"

/**
 * Kernel overlayfs; needs root or CAP_SYS_ADMIN. mount(2) through the long-lived helper
 * (helper.ts), else util-linux mount(8) per call; `lowerdir+=` plans always use mount(8),
 * which sends them with fsconfig(2).
 */
export const kernelDriver: Driver = {
  name: "kernel",
  mount: (input) =>
    Effect.gen(function*() {
      const spec = yield* overlaySpecEffect(input)
      yield* preflight(spec)
      yield* checkStackDepth(spec.lowers.length)
      const { lowerdirPlus } = yield* mountToolEffect
      const plan = yield* planOverlayMountEffect(spec, { lowerdirPlus })
      const viaMount8 = performMount(plan, { driver: "kernel", file: "mount", args: (p) => [...MOUNT_FLAGS, ...mountArgs(p)] })
      yield* (yield* currentHelperStatus).enabled && plan.strategy !== "lowerdir+" ? performSyscallMount(plan, viaMount8) : viaMount8
      const mounted: ActiveMount = {
        driver: "kernel",
        spec,
        path: spec.target,
        unmount: (options) => unmountEffect(spec.target, options)
      }
      return mounted
    })
}
