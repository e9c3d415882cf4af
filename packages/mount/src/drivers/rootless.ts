import * as Effect from "effect/Effect"
import type { ActiveMount, Driver } from "../driver.js"
import { withPlanCwd } from "../mount-command.js"
import { prepareRootless, spawnNamespaceHelper, stopNamespaceHelper } from "../namespace.js"

/**
 * Kernel overlayfs inside `unshare --user --map-root-user --mount` with userxattr. The mount
 * is held by a helper process; this process reaches the merged tree through
 * /proc/<helper>/root<target>, and runInNamespace runs commands that see it at target.
 */
export const rootlessDriver: Driver = {
  name: "rootless",
  mount: (input) =>
    Effect.gen(function*() {
      const { spec, plan } = yield* prepareRootless(input)
      const helper = yield* withPlanCwd(plan, (cwd) => spawnNamespaceHelper(plan, cwd))
      const mounted: ActiveMount = {
        driver: "rootless",
        spec,
        path: `/proc/${helper.pid}/root${spec.target}`,
        unmount: () => stopNamespaceHelper(helper, spec.target)
      }
      return mounted
    })
}
