import { type ChildProcess, spawn } from "node:child_process"
import * as Effect from "effect/Effect"
import { type FileSystemError, MountFailedError, type MountError, ToolMissingError, UnmountFailedError } from "./errors.js"
import { mountArgs, withPlanCwd } from "./mount-command.js"
import { type MountPlan, planOverlayMountEffect } from "./plan.js"
import { checkStackDepth, mountToolEffect } from "./kernel.js"
import { preflight } from "./preflight.js"
import { type OverlaySpec, overlaySpecEffect } from "./spec.js"

/** unshare(1): new user namespace mapping us to root, and a private mount namespace. */
export const UNSHARE_ARGS: ReadonlyArray<string> = ["--user", "--map-root-user", "--mount", "--propagation", "private"]

/** Mount inside the namespace with the six words of mountArgs, then go on with the rest of argv. */
const MOUNT_THEN = `mount -n -c -i "$1" "$2" "$3" "$4" "$5" "$6" || { echo "${"cairn: namespace mount failed"}" >&2; exit 125; }\nshift 6\n`
/** Tells a failed mount from a command that itself exits 125 (with piped stderr). */
const MOUNT_FAILED = "cairn: namespace mount failed"

/** A rootless spec always keeps its metadata in user.overlay.* xattrs (kernel >= 5.11). */
const rootlessSpec = (spec: OverlaySpec): OverlaySpec => ({ ...spec, options: { ...spec.options, userxattr: true } })

/** Validation, preflight and plan shared by the rootless driver and runInNamespace. */
export const prepareRootless = (input: OverlaySpec): Effect.Effect<{ spec: OverlaySpec; plan: MountPlan }, MountError> =>
  Effect.gen(function*() {
    const spec = rootlessSpec(yield* overlaySpecEffect(input))
    yield* preflight(spec)
    yield* checkStackDepth(spec.lowers.length)
    const { lowerdirPlus } = yield* mountToolEffect
    return { spec, plan: yield* planOverlayMountEffect(spec, { lowerdirPlus }) }
  })

export interface NamespaceHelper {
  readonly child: ChildProcess
  readonly pid: number
}

const unshareFailed = (target: string, code: number, stderr: string, script: string) =>
  new MountFailedError({ driver: "rootless", target, command: `unshare ${UNSHARE_ARGS.join(" ")} sh -c '${script.replaceAll("\n", "; ")}'`, exitCode: code, stderr })

/**
 * Starts `unshare ... sh` that mounts the plan and then waits on its stdin: the mount lives as
 * long as that process (its mount namespace dies with it, so a killed parent leaks nothing).
 */
export const spawnNamespaceHelper = (plan: MountPlan, cwd: string | undefined): Effect.Effect<NamespaceHelper, MountFailedError | ToolMissingError> =>
  Effect.callback<NamespaceHelper, MountFailedError | ToolMissingError>((resume, signal) => {
    const script = `${MOUNT_THEN}echo ready\nread _ || true\n`
    const child = spawn("unshare", [...UNSHARE_ARGS, "sh", "-c", script, "cairn-rootless", ...mountArgs(plan)], {
      cwd,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" }
    })
    let stderr = ""
    let done = false
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString() })
    child.stdout.on("data", (d: Buffer) => {
      if (!done && d.toString().includes("ready")) {
        done = true
        resume(Effect.succeed({ child, pid: child.pid ?? -1 }))
      }
    })
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (done) return
      done = true
      resume(Effect.fail(e.code === "ENOENT" ? new ToolMissingError({ tool: "unshare" }) : unshareFailed(plan.target, 126, e.message, script)))
    })
    child.on("exit", (code) => {
      if (done) return
      done = true
      resume(Effect.fail(unshareFailed(plan.target, code ?? 1, stderr, script)))
    })
    signal.addEventListener("abort", () => child.kill("SIGKILL"))
  })

/** Ends a helper: closing stdin lets `read` return; the namespace and its mount go with it. */
export const stopNamespaceHelper = (helper: NamespaceHelper, target: string): Effect.Effect<void, UnmountFailedError> =>
  Effect.callback<void, UnmountFailedError>((resume) => {
    const { child } = helper
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    child.stdin?.end()
  }).pipe(Effect.mapError(() => new UnmountFailedError({ target, attempts: 1, stderr: "namespace helper did not exit" })))

export interface RunResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunInNamespaceOptions {
  /** "pipe" (default) collects stdout/stderr; "inherit" shares this process's terminal. */
  readonly stdio?: "pipe" | "inherit"
  readonly env?: NodeJS.ProcessEnv
}

/**
 * Runs argv inside a new user + mount namespace where `spec` is mounted (rootless, userxattr).
 * The mount is private to that namespace and disappears when argv exits.
 */
export const runInNamespaceEffect = (
  input: OverlaySpec,
  argv: ReadonlyArray<string>,
  options: RunInNamespaceOptions = {}
): Effect.Effect<RunResult, MountError | FileSystemError> =>
  Effect.gen(function*() {
    if (argv.length === 0) return yield* Effect.die(new Error("runInNamespace needs a command"))
    const { plan } = yield* prepareRootless(input)
    const script = `${MOUNT_THEN}cd / && exec "$@"\n`
    return yield* withPlanCwd(plan, (cwd) =>
      Effect.callback<RunResult, MountFailedError | ToolMissingError>((resume, signal) => {
        const child = spawn("unshare", [...UNSHARE_ARGS, "sh", "-c", script, "cairn-rootless", ...mountArgs(plan), ...argv], {
          cwd,
          stdio: options.stdio === "inherit" ? "inherit" : ["ignore", "pipe", "pipe"],
          env: options.env ?? process.env
        })
        let stdout = ""
        let stderr = ""
        child.stdout?.on("data", (d: Buffer) => { stdout += d.toString() })
        child.stderr?.on("data", (d: Buffer) => { stderr += d.toString() })
        child.on("error", (e: NodeJS.ErrnoException) =>
          resume(Effect.fail(e.code === "ENOENT" ? new ToolMissingError({ tool: "unshare" }) : unshareFailed(plan.target, 126, e.message, script))))
        child.on("close", (code) => {
          const mountFailed = options.stdio === "inherit" ? code === 125 : code === 125 && stderr.includes(MOUNT_FAILED)
          if (mountFailed) return resume(Effect.fail(unshareFailed(plan.target, 125, stderr, script)))
          resume(Effect.succeed({ exitCode: code ?? 1, stdout, stderr }))
        })
        signal.addEventListener("abort", () => child.kill("SIGKILL"))
      })
    )
  })

export const runInNamespace = (spec: OverlaySpec, argv: ReadonlyArray<string>, options?: RunInNamespaceOptions): Promise<RunResult> =>
  Effect.runPromise(runInNamespaceEffect(spec, argv, options))
