import { mkdtemp, rm, symlink } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { describeCommand, runCommand } from "./command.js"
import { FileSystemError, MountFailedError, type ToolMissingError } from "./errors.js"
import type { MountPlan } from "./plan.js"

const fsError = (operation: string, path: string) => (e: unknown) =>
  new FileSystemError({
    operation,
    path,
    code: (e as NodeJS.ErrnoException).code ?? "EIO",
    detail: e instanceof Error ? e.message : String(e)
  })

/** Runs `use` with the directory the plan's relative paths resolve against (links made and removed). */
export const withPlanCwd = <A, E, R>(
  plan: MountPlan,
  use: (cwd: string | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | FileSystemError, R> =>
  Effect.acquireUseRelease(
    plan.links === undefined
      ? Effect.succeed<string | undefined>(undefined)
      : Effect.tryPromise({
          try: async () => {
            const dir = await mkdtemp(join(tmpdir(), "cairn-links-"))
            for (const link of plan.links ?? []) await symlink(link.target, join(dir, link.name))
            return dir
          },
          catch: fsError("create short links in", tmpdir())
        }),
    (linkDir) => use(linkDir ?? plan.cwd),
    (linkDir) => (linkDir === undefined ? Effect.void : Effect.promise(() => rm(linkDir, { recursive: true, force: true })))
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
          return yield* new MountFailedError({
            driver: program.driver,
            target: plan.target,
            command: `${cwd === undefined ? "" : `(cd ${cwd}) `}${describeCommand(program.file, args)}`,
            exitCode: result.exitCode,
            stderr: result.stderr
          })
        }
      }))

/** The argv of util-linux mount(8) for a plan; always six words (the rootless script relies on it). */
export const mountArgs = (plan: MountPlan): ReadonlyArray<string> =>
  plan.strategy === "bind"
    ? ["-t", "none", "-o", plan.data, plan.source ?? "", plan.target]
    : ["-t", "overlay", "overlay", "-o", plan.data, plan.target]

export { fsError }
