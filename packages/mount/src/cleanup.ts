import { realpath } from "node:fs/promises"
import * as Effect from "effect/Effect"
import type { FileSystemError, UnmountFailedError } from "./errors.js"
import { listMountsEffect, type MountInfo, mountsUnder } from "./mountinfo.js"
import { unmountEffect } from "./unmount.js"

export interface CleanupReport {
  readonly unmounted: ReadonlyArray<string>
  readonly failed: ReadonlyArray<{ readonly mountPoint: string; readonly error: string }>
}

/**
 * Unmounts everything mounted at or below `root` (deepest first, so nested mounts go before
 * their parents), e.g. what a killed process left. Each mount is retried, then lazily detached.
 */
export const cleanupStaleEffect = (root: string): Effect.Effect<CleanupReport, FileSystemError> =>
  Effect.gen(function*() {
    const canonical = yield* Effect.promise(() => realpath(root).catch(() => root))
    const unmounted: Array<string> = []
    const failed: Array<{ mountPoint: string; error: string }> = []
    const stale: Array<MountInfo> = mountsUnder(yield* listMountsEffect(), canonical)
    for (const m of stale) {
      const r = yield* Effect.result(unmountEffect(m.mountPoint, { lazy: true }))
      if (r._tag === "Success") unmounted.push(m.mountPoint)
      else failed.push({ mountPoint: m.mountPoint, error: (r.failure as UnmountFailedError).message })
    }
    return { unmounted, failed }
  })

export const cleanupStale = (root: string): Promise<CleanupReport> => Effect.runPromise(cleanupStaleEffect(root))
