import { Effect } from "effect"
import { runCommand } from "./command.js"
import { UnmountFailedError } from "./errors.js"
import { listMountsEffect, mountAt } from "./mountinfo.js"

export interface UnmountOptions {
  /** Attempts while the mount is busy (EBUSY), with growing pauses. Default 5. */
  readonly retries?: number
  /** Detach now and let the kernel finish when the last user leaves (umount -l) if still busy. */
  readonly lazy?: boolean
  /** Program to call, default umount(8); fuse mounts may use fusermount3 -u. */
  readonly program?: { readonly file: string; readonly args: (target: string, lazy: boolean) => ReadonlyArray<string> }
}

const umount = {
  file: "umount",
  args: (target: string, lazy: boolean) => (lazy ? ["-l", target] : [target])
}

/**
 * Unmounts `target`, retrying while busy; with `lazy`, the last resort is a lazy detach.
 * Succeeds when no mount is left at target (already gone counts as done).
 */
export const unmountEffect = (target: string, options: UnmountOptions = {}): Effect.Effect<void, UnmountFailedError> =>
  Effect.gen(function*() {
    const retries = options.retries ?? 5
    const program = options.program ?? umount
    let stderr = ""
    for (let attempt = 1; attempt <= retries; attempt++) {
      const r = yield* runCommand(program.file, program.args(target, false)).pipe(
        Effect.catchTag("ToolMissingError", (e) => Effect.succeed({ exitCode: 127, stdout: "", stderr: e.message }))
      )
      if (r.exitCode === 0) return
      stderr = r.stderr
      // "not mounted" means someone (or the kernel, for a dead fuse daemon) already did it
      const stillMounted = yield* listMountsEffect().pipe(
        Effect.map((ms) => mountAt(ms, target) !== undefined),
        Effect.orElseSucceed(() => true)
      )
      if (!stillMounted) return
      if (!/busy/i.test(stderr)) break
      yield* Effect.sleep(`${20 * 2 ** (attempt - 1)} millis`)
    }
    if (options.lazy === true) {
      const r = yield* runCommand(umount.file, umount.args(target, true)).pipe(
        Effect.orElseSucceed(() => ({ exitCode: 127, stdout: "", stderr: "umount not found" }))
      )
      if (r.exitCode === 0) return
      stderr = r.stderr
    }
    return yield* new UnmountFailedError({ target, attempts: retries, stderr })
  })

export const unmount = (target: string, options?: UnmountOptions): Promise<void> => Effect.runPromise(unmountEffect(target, options))
