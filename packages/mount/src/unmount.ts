import * as Effect from "effect/Effect"
import { runCommand } from "./command.js"
import { UnmountFailedError } from "./errors.js"
import { listMountsEffect, mountAt } from "./mountinfo.js"
import { MNT_DETACH } from "./flags.js"
import { currentHelperStatus, sysUmount } from "./helper.js"

export interface UnmountOptions {
  /** Attempts while the mount is busy (EBUSY), with growing pauses. Default 5. */
  readonly retries?: number
  /** Detach now and let the kernel finish when the last user leaves (umount -l) if still busy. */
  readonly lazy?: boolean
  /** Program to call instead of umount2(2)/umount(8); fuse mounts may use fusermount3 -u. */
  readonly program?: { readonly file: string; readonly args: (target: string, lazy: boolean) => ReadonlyArray<string> }
}

const umount = {
  file: "umount",
  args: (target: string, lazy: boolean) => (lazy ? ["-l", target] : [target])
}

/** One unmount call: done, or why not and whether waiting could help. */
type Attempt = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly stderr: string; readonly errno?: string }

const OK: Attempt = { ok: true }

const execAttempt = (program: NonNullable<UnmountOptions["program"]>, target: string, lazy: boolean): Effect.Effect<Attempt> =>
  runCommand(program.file, program.args(target, lazy)).pipe(
    Effect.catchTag("ToolMissingError", (e) => Effect.succeed({ exitCode: 127, stdout: "", stderr: e.message })),
    Effect.map((r): Attempt => (r.exitCode === 0 ? OK : { ok: false, retry: /busy/i.test(r.stderr), stderr: r.stderr }))
  )

/** umount2(2) through the helper; a helper that died is worth another try (a new one starts). */
const syscallAttempt = (target: string, flags: number): Effect.Effect<Attempt> =>
  sysUmount(target, flags).pipe(
    Effect.map((r): Attempt =>
      r.errno === 0 ? OK : { ok: false, retry: r.code === "EBUSY", stderr: `umount2(2) ${target}: ${r.code}: ${r.detail}`, errno: r.code }),
    Effect.catchTag("MountHelperExitedError", (e) => Effect.succeed<Attempt>({ ok: false, retry: true, stderr: e.message }))
  )

/** The program option wins (fuse), then umount2(2) via the helper, then umount(8). */
const attempt = (target: string, lazy: boolean, program: UnmountOptions["program"]): Effect.Effect<Attempt> =>
  program !== undefined
    ? execAttempt(program, target, lazy)
    : Effect.flatMap(currentHelperStatus, (helper) =>
      helper.enabled ? syscallAttempt(target, lazy ? MNT_DETACH : 0) : execAttempt(umount, target, lazy)
    )

/**
 * Unmounts `target`, retrying while busy; with `lazy`, the last resort is a lazy detach.
 * Succeeds when no mount is left at target (already gone counts as done: umount2 says EINVAL
 * or ENOENT, umount(8) "not mounted").
 */
export const unmountEffect = (target: string, options: UnmountOptions = {}): Effect.Effect<void, UnmountFailedError> =>
  Effect.gen(function*() {
    const retries = options.retries ?? 5
    let last: Attempt = OK
    for (let n = 1; n <= retries; n++) {
      last = yield* attempt(target, false, options.program)
      if (last.ok) return
      // "not mounted" means someone (or the kernel, for a dead fuse daemon) already did it
      const stillMounted = yield* listMountsEffect().pipe(
        Effect.map((ms) => mountAt(ms, target) !== undefined),
        Effect.orElseSucceed(() => true)
      )
      if (!stillMounted) return
      if (!last.retry) break
      yield* Effect.sleep(`${20 * 2 ** (n - 1)} millis`)
    }
    if (options.lazy === true) {
      // with a program (fuse), the lazy detach stays umount -l as it always was
      last = yield* attempt(target, true, options.program === undefined ? undefined : umount)
      if (last.ok) return
    }
    const failed = last.ok ? { stderr: "", errno: undefined } : last
    return yield* new UnmountFailedError({ target, attempts: retries, stderr: failed.stderr, errno: failed.errno })
  })

export const unmount = (target: string, options?: UnmountOptions): Promise<void> => Effect.runPromise(unmountEffect(target, options))
