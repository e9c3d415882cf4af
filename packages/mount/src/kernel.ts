import { existsSync, readFileSync } from "node:fs"
import { release, tmpdir } from "node:os"
import * as Effect from "effect/Effect"
import { runCommand } from "./command.js"
import { TooManyLayersError } from "./errors.js"
import { MountRuntime } from "./state.js"

export interface KernelVersion {
  readonly major: number
  readonly minor: number
  readonly patch: number
  readonly release: string
}

export const kernelVersion = (rel: string = release()): KernelVersion => {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel)
  return { major: Number(m?.[1] ?? 0), minor: Number(m?.[2] ?? 0), patch: Number(m?.[3] ?? 0), release: rel }
}

export const kernelAtLeast = (v: KernelVersion, major: number, minor: number): boolean =>
  v.major > major || (v.major === major && v.minor >= minor)

/** overlay is registered (/proc/filesystems) or its module is installed and can autoload. */
export const overlayInKernel = (): { readonly available: boolean; readonly reason: string } => {
  try {
    if (/\toverlay$/m.test(readFileSync("/proc/filesystems", "utf8"))) return { available: true, reason: "overlay listed in /proc/filesystems" }
  } catch {
    return { available: false, reason: "/proc/filesystems is unreadable (not Linux, or /proc not mounted)" }
  }
  const dir = `/lib/modules/${release()}/kernel/fs/overlayfs`
  if (existsSync(dir)) return { available: true, reason: `overlay module installed (${dir}), loads on first mount` }
  return { available: false, reason: "overlay is neither in /proc/filesystems nor installed as a module (modprobe overlay)" }
}

/** OVL_MAX_STACK in fs/overlayfs/params.h; unchanged since multi-lower support (Linux 4.0). */
export const DEFAULT_MAX_STACK_DEPTH = 500

export interface StackDepth {
  readonly limit: number
  /** "probe": measured by mounting; "default": the kernel constant, not measured (no privilege). */
  readonly source: "probe" | "default"
}

/**
 * Tries a mount inside a private mount namespace (`unshare --mount`, root only): the mount
 * vanishes with that short-lived process, so a probe can never leak one, even if we are
 * killed mid-probe. Succeeds with whether the mount worked.
 */
export const probeMountInPrivateNamespace = (args: ReadonlyArray<string>, cwd?: string) =>
  runCommand("unshare", ["--mount", "--propagation", "private", "mount", "-n", "-c", "-i", ...args], cwd === undefined ? {} : { cwd }).pipe(
    Effect.map((r) => ({ ok: r.exitCode === 0, stderr: r.stderr.trim() }))
  )

/**
 * Whether an overlay of `n` empty lowers mounts. Everything happens inside the throwaway mount
 * namespace, on a tmpfs mounted there over the temp dir: the lowers never exist on the host, so a
 * probe killed at any point leaves nothing behind (a host temp dir of n lowers did, when a process
 * exited while it was being removed).
 */
const tryDepth = (n: number) => {
  const names = Array.from({ length: n }, (_, i) => i.toString(36))
  const script = 'mount -n -t tmpfs cairn-depth-probe "$1" && cd "$1" && mkdir m l && cd l && mkdir $2 && mount -n -c -i -t overlay overlay -o "lowerdir=$3" ../m'
  return runCommand("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", tmpdir(), names.join(" "), names.join(":")]).pipe(
    Effect.map((r) => r.exitCode === 0)
  )
}

/**
 * The kernel's overlay stack depth. Root probes it once per process by mounting N and N+1
 * empty lowers in a throwaway mount namespace (a few ms); without privilege (or without
 * unshare) it reports the kernel constant.
 * Probing beats guessing: distributions can patch OVL_MAX_STACK.
 */
export const maxStackDepthEffect: Effect.Effect<StackDepth> = Effect.flatMap(Effect.service(MountRuntime), (state) => {
  if (state.stackDepth !== undefined) return Effect.succeed(state.stackDepth)
  if (process.getuid?.() !== 0) return Effect.succeed({ limit: DEFAULT_MAX_STACK_DEPTH, source: "default" as const })
  const probeMax = DEFAULT_MAX_STACK_DEPTH + 1
  return Effect.gen(function*() {
    if (!(yield* tryDepth(DEFAULT_MAX_STACK_DEPTH))) {
      // smaller than the constant: bisect for the largest depth that mounts
      // a read-only overlay needs at least 2 lowers
      let lo = 2
      let hi = DEFAULT_MAX_STACK_DEPTH - 1
      if (!(yield* tryDepth(2))) return { limit: DEFAULT_MAX_STACK_DEPTH, source: "default" as const }
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2)
        if (yield* tryDepth(mid)) lo = mid
        else hi = mid - 1
      }
      return { limit: lo, source: "probe" as const }
    }
    // a kernel with a larger limit: report what was proven to work
    const more = yield* tryDepth(probeMax)
    return { limit: more ? probeMax : DEFAULT_MAX_STACK_DEPTH, source: "probe" as const }
  }).pipe(
    Effect.tap((d) => Effect.sync(() => { state.stackDepth = d })),
    Effect.orElseSucceed(() => ({ limit: DEFAULT_MAX_STACK_DEPTH, source: "default" as const }))
  )
})

export const maxStackDepth = (): Promise<StackDepth> => Effect.runPromise(maxStackDepthEffect)

/** Refuses more lowers than the kernel takes, instead of mount's bare EINVAL. */
export const checkStackDepth = (layers: number): Effect.Effect<void, TooManyLayersError> =>
  Effect.gen(function*() {
    const depth = yield* maxStackDepthEffect
    if (layers > depth.limit) return yield* new TooManyLayersError({ layers, limit: depth.limit })
  })

export interface MountTool {
  /** util-linux version of mount(8), e.g. "2.38.1"; undefined if mount is missing. */
  readonly version: string | undefined
  /** `lowerdir+=` works: util-linux >= 2.39 (fsconfig per option) and kernel >= 6.8. */
  readonly lowerdirPlus: boolean
}

/** Asks `mount --version` once per process. */
export const mountToolEffect: Effect.Effect<MountTool> = Effect.flatMap(Effect.service(MountRuntime), (state) => {
  if (state.mountTool !== undefined) return Effect.succeed(state.mountTool)
  return runCommand("mount", ["--version"]).pipe(
    Effect.map((r) => {
      const m = /util-linux (\d+)\.(\d+)(?:\.(\d+))?/.exec(r.stdout)
      const version = m === null ? undefined : m[0].slice("util-linux ".length)
      const utilLinux = m !== null && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 39))
      return { version, lowerdirPlus: utilLinux && kernelAtLeast(kernelVersion(), 6, 8) }
    }),
    Effect.orElseSucceed(() => ({ version: undefined, lowerdirPlus: false })),
    Effect.tap((t) => Effect.sync(() => { state.mountTool = t }))
  )
})
