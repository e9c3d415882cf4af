import { accessSync, constants, mkdtempSync, readdirSync, rmdirSync, symlinkSync, unlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { describeCommand, runCommand } from "./command.js"
import { FileSystemError, MountFailedError, MountHelperExitedError, type ToolMissingError } from "./errors.js"
import { listMountsEffect, mountAt } from "./mountinfo.js"
import type { MountPlan } from "./plan.js"
import { describeMountCall, MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT, type MountCall, mountFlags } from "./flags.js"
import { currentHelperStatus, sysMount, sysUmount } from "./helper.js"

const fsError = (operation: string, path: string) => (e: unknown) =>
  new FileSystemError({
    operation,
    path,
    code: (e as NodeJS.ErrnoException).code ?? "EIO",
    detail: e instanceof Error ? e.message : String(e)
  })

/**
 * Where per-mount link dirs go: a tmpfs if we can (symlink(2) on a busy ext4 /tmp measured
 * 1-3 ms each, on tmpfs ~0.01 ms), else os.tmpdir(). CAIRN_LINK_DIR overrides.
 */
const linkBase = (): string => {
  const env = process.env.CAIRN_LINK_DIR
  if (env !== undefined && env !== "") return env
  try {
    accessSync("/dev/shm", constants.W_OK | constants.X_OK)
    return "/dev/shm"
  } catch {
    return tmpdir()
  }
}

const removeLinkDir = (dir: string) => {
  for (const name of readdirSync(dir)) unlinkSync(join(dir, name))
  rmdirSync(dir)
}

/** Runs `use` with the directory the plan's relative paths resolve against (links made and removed). */
export const withPlanCwd = <A, E, R>(
  plan: MountPlan,
  use: (cwd: string | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | FileSystemError, R> =>
  Effect.acquireUseRelease(
    plan.links === undefined
      ? Effect.succeed<string | undefined>(undefined)
      : Effect.try({
          // synchronous: 500 symlink(2) calls cost ~1 ms, 500 thread-pool round trips far more
          try: () => {
            const dir = mkdtempSync(join(linkBase(), "cairn-links-"))
            for (const link of plan.links ?? []) symlinkSync(link.target, join(dir, link.name))
            return dir
          },
          catch: fsError("create short links in", linkBase())
        }),
    (linkDir) => use(linkDir ?? plan.cwd),
    (linkDir) => (linkDir === undefined ? Effect.void : Effect.sync(() => removeLinkDir(linkDir)))
  )

/**
 * mount(8) only says "wrong fs type, bad option..."; overlayfs logs the actual reason
 * ("at least 2 lowerdir are needed...", "workdir and upperdir must reside under the same
 * mount"). Best effort: dmesg may be restricted, and the line could be another mount's.
 */
const lastOverlayLogLine: Effect.Effect<string | undefined> = runCommand("dmesg", ["--notime"]).pipe(
  Effect.map((r) => r.stdout.split("\n").slice(-50).findLast((l) => l.includes("overlayfs: "))?.trim()),
  Effect.orElseSucceed(() => undefined)
)

/**
 * Runs a plan's command: `mount -t overlay overlay -o DATA TARGET` (or another program with
 * the same shape, e.g. fuse-overlayfs) in the plan's cwd. For the `links` strategy a fresh
 * directory of short symlinks is the cwd; it is removed after the call because the kernel
 * resolved (and now pins) every lower at mount time.
 */
export const performMount = (
  plan: MountPlan,
  program: { readonly driver: string; readonly file: string; readonly args: (plan: MountPlan) => ReadonlyArray<string> }
): Effect.Effect<void, MountFailedError | ToolMissingError | FileSystemError> =>
  withPlanCwd(plan, (cwd) =>
      Effect.gen(function*() {
        const args = program.args(plan)
        const result = yield* runCommand(program.file, args, cwd === undefined ? {} : { cwd })
        if (result.exitCode !== 0) {
          const kernelLog = program.file === "mount" ? yield* lastOverlayLogLine : undefined
          return yield* new MountFailedError({
            kernelLog,
            driver: program.driver,
            target: plan.target,
            command: `${cwd === undefined ? "" : `(cd ${cwd}) `}${describeCommand(program.file, args)}`,
            exitCode: result.exitCode,
            stderr: result.stderr
          })
        }
      }))

/** A mount(2) call that returned an errno, as the driver's MountFailedError. */
const syscallFailed = (driver: string, call: MountCall, errno: { readonly code: string; readonly detail: string }, kernelLog: string | undefined) =>
  new MountFailedError({ driver, target: call.target, command: describeMountCall(call), exitCode: 32, stderr: errno.detail, errno: errno.code, kernelLog })

/** Calls mount(2) through the helper; an errno becomes MountFailedError (with the overlayfs log line). */
const callMount = (driver: string, call: MountCall): Effect.Effect<void, MountFailedError | MountHelperExitedError> =>
  sysMount(call).pipe(
    Effect.mapError((e) => new MountHelperExitedError({ pid: e.pid, exitCode: e.exitCode, signal: e.signal, reason: e.reason, stderr: e.stderr, call: describeMountCall(call) })),
    Effect.flatMap((r) =>
      r.errno === 0
        ? Effect.void
        : (call.fstype === "overlay" ? lastOverlayLogLine : Effect.succeed(undefined)).pipe(
            Effect.flatMap((kernelLog) => Effect.fail(syscallFailed(driver, call, r, kernelLog)))
          )
    )
  )

/** Takes back a mount this call made: a plain umount2(2), else a detach (nobody uses it yet). */
const undoMount = (target: string): Effect.Effect<void> =>
  sysUmount(target, 0).pipe(
    Effect.flatMap((r) => (r.errno === 0 ? Effect.void : Effect.asVoid(sysUmount(target, MNT_DETACH)))),
    Effect.catch(() => Effect.asVoid(runCommand("umount", ["-l", target]))),
    Effect.ignore
  )

/**
 * The mount(2) calls for a plan (every strategy but lowerdir+, which needs fsconfig(2)):
 * - overlay: mount("overlay", target, "overlay", flags, data) in the plan's cwd, generic
 *   options of the data turned into MS_* flags as mount(8) does;
 * - bind: mount(source, target, NULL, MS_BIND) then a read-only remount, which a bind mount
 *   needs (mount(2): MS_RDONLY is ignored on the first call); if that fails, the bind is undone.
 */
export const planCalls = (plan: MountPlan, cwd: string | undefined): ReadonlyArray<MountCall> => {
  if (plan.strategy === "bind") {
    const { flags } = mountFlags(plan.data)
    return [
      { source: plan.source ?? "", target: plan.target, fstype: null, flags: MS_BIND, data: null },
      { source: null, target: plan.target, fstype: null, flags: MS_REMOUNT | MS_BIND | MS_RDONLY | flags, data: null }
    ]
  }
  const { flags, data } = mountFlags(plan.data)
  return [{ cwd, source: "overlay", target: plan.target, fstype: "overlay", flags, data }]
}

/**
 * Performs a kernel plan with mount(2) through the helper. If the helper dies mid-call,
 * whatever it left at the target is detached and the typed MountHelperExitedError returned;
 * if it could not run at all (helperStatus() now off), mount(8) does this call instead.
 */
export const performSyscallMount = (
  plan: MountPlan,
  fallback: Effect.Effect<void, MountFailedError | ToolMissingError | FileSystemError>
): Effect.Effect<void, MountFailedError | MountHelperExitedError | ToolMissingError | FileSystemError> =>
  withPlanCwd(plan, (cwd) =>
    Effect.gen(function*() {
      const [first, ...rest] = planCalls(plan, cwd)
      if (first === undefined) return
      yield* callMount("kernel", first)
      for (const call of rest) yield* callMount("kernel", call).pipe(Effect.tapError(() => undoMount(plan.target)))
    })
  ).pipe(
    Effect.catchTag("MountHelperExitedError", (e) =>
      Effect.gen(function*() {
        // preflight made sure the target was no mount point: one there now is this call's
        const left = yield* listMountsEffect().pipe(Effect.map((ms) => mountAt(ms, plan.target) !== undefined), Effect.orElseSucceed(() => true))
        if (left) yield* undoMount(plan.target)
        else if (!(yield* currentHelperStatus).enabled) return yield* fallback
        return yield* e
      })
    )
  )

/**
 * mount(8) flags for every call: -n no utab/mtab write, -c no path canonicalization (the
 * spec's paths are already absolute and normalized), -i no /sbin/mount.<type> helper lookup.
 */
export const MOUNT_FLAGS: ReadonlyArray<string> = ["-n", "-c", "-i"]

/** The argv of util-linux mount(8) for a plan; always six words (the rootless script relies on it). */
export const mountArgs = (plan: MountPlan): ReadonlyArray<string> =>
  plan.strategy === "bind"
    ? ["-t", "none", "-o", plan.data, plan.source ?? "", plan.target]
    : ["-t", "overlay", "overlay", "-o", plan.data, plan.target]

export { fsError }
