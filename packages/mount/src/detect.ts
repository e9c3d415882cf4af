import { constants, readFileSync } from "node:fs"
import { access, mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { DRIVER_NAMES, type Driver, type DriverName } from "./driver.js"
import { copyDriver } from "./drivers/copy.js"
import { fuseDriver } from "./drivers/fuse.js"
import { kernelDriver } from "./drivers/kernel.js"
import { rootlessDriver } from "./drivers/rootless.js"
import { NoUsableDriverError } from "./errors.js"
import { findOnPath } from "./command.js"
import { type HelperStatus, helperStatus, pingHelper } from "./helper.js"
import { MountRuntime } from "./state.js"
import {
  type KernelVersion,
  kernelAtLeast,
  kernelVersion,
  maxStackDepthEffect,
  type MountTool,
  mountToolEffect,
  overlayInKernel,
  probeMountInPrivateNamespace,
  type StackDepth
} from "./kernel.js"

export interface DriverVerdict {
  readonly driver: DriverName
  readonly usable: boolean
  /** Why it is or is not usable, one fact per line, for a CLI to print. */
  readonly reasons: ReadonlyArray<string>
}

export interface DetectReport {
  readonly kernel: KernelVersion
  readonly overlayInKernel: boolean
  readonly uid: number
  readonly capSysAdmin: boolean
  readonly userNamespaces: { readonly allowed: boolean; readonly reason: string }
  readonly fuse: { readonly device: boolean; readonly binary: string | undefined; readonly fusermount: string | undefined }
  readonly maxStackDepth: StackDepth
  /** util-linux mount(8) version and whether it can pass `lowerdir+=` (no page limit, no links). */
  readonly mountTool: MountTool
  /**
   * How the kernel driver mounts: "mount(2) via helper" (one long-lived perl process making
   * the syscalls) or "mount(8)" per call, and why (CAIRN_MOUNT_HELPER=0, no perl, unknown arch).
   */
  readonly mountCall: Pick<HelperStatus, "via" | "reason">
  /** In preference order: kernel, rootless, fuse, copy. */
  readonly drivers: ReadonlyArray<DriverVerdict>
}

export const DRIVERS: Readonly<Record<DriverName, Driver>> = {
  kernel: kernelDriver,
  rootless: rootlessDriver,
  fuse: fuseDriver,
  copy: copyDriver
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8").trim()
  } catch {
    return undefined
  }
}

/** Effective capabilities from /proc/self/status; CAP_SYS_ADMIN is bit 21 (capability.h). */
const hasCapSysAdmin = (): boolean => {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readText("/proc/self/status") ?? "")
  return m?.[1] !== undefined && (BigInt(`0x${m[1]}`) & (1n << 21n)) !== 0n
}

const userNamespaces = (): { allowed: boolean; reason: string } => {
  const clone = readText("/proc/sys/kernel/unprivileged_userns_clone")
  if (clone === "0") return { allowed: false, reason: "sysctl kernel.unprivileged_userns_clone=0 (Debian): set it to 1" }
  const max = readText("/proc/sys/user/max_user_namespaces")
  if (max === "0") return { allowed: false, reason: "sysctl user.max_user_namespaces=0: set it above 0" }
  const apparmor = readText("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
  if (apparmor === "1" && process.getuid?.() !== 0) {
    return { allowed: false, reason: "sysctl kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu): needs an AppArmor profile or 0" }
  }
  return {
    allowed: true,
    reason: `user namespaces allowed (user.max_user_namespaces=${max ?? "?"}${clone === undefined ? "" : `, kernel.unprivileged_userns_clone=${clone}`})`
  }
}

/**
 * Mounts an overlay in a temp dir with a driver and unmounts it: the cheapest proof. (fuse
 * and rootless; a process killed in between leaves at most this probe's fuse mount.)
 */
const probe = (driver: Driver): Effect.Effect<string | undefined> =>
  Effect.acquireUseRelease(
    Effect.tryPromise(async () => {
      const dir = await mkdtemp(join(tmpdir(), `cairn-probe-${driver.name}-`))
      for (const d of ["lower", "upper", "work", "merged"]) await mkdir(join(dir, d))
      return dir
    }),
    (dir) =>
      driver.mount({ lowers: [join(dir, "lower")], upper: join(dir, "upper"), work: join(dir, "work"), target: join(dir, "merged") }).pipe(
        Effect.flatMap((m) => m.unmount({ lazy: true })),
        Effect.as(undefined),
        Effect.catch((e) => Effect.succeed(e.message))
      ),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }).catch(() => undefined))
  ).pipe(Effect.catch((e) => Effect.succeed(`no temp dir for the probe in ${tmpdir()}: ${e.message}`)))

/** The kernel driver's probe: the same overlay, mounted in a throwaway mount namespace. */
const probeKernel: Effect.Effect<string | undefined> = Effect.acquireUseRelease(
  Effect.tryPromise(async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-probe-kernel-"))
    for (const d of ["lower", "upper", "work", "merged"]) await mkdir(join(dir, d))
    return dir
  }),
  (dir) =>
    probeMountInPrivateNamespace(["-t", "overlay", "overlay", "-o", `lowerdir=lower,upperdir=upper,workdir=work`, join(dir, "merged")], dir).pipe(
      Effect.map((r) => (r.ok ? undefined : r.stderr || "mount failed")),
      Effect.catch((e) => Effect.succeed(e.message))
    ),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }).catch(() => undefined))
).pipe(Effect.catch((e) => Effect.succeed(`no temp dir for the probe in ${tmpdir()}: ${e.message}`)))

const pick = ({ via, reason }: HelperStatus) => ({ via, reason })

/**
 * Which drivers work here and why the others don't. Facts are read from /proc and /sys;
 * each candidate driver is then proven with a tiny real mount. Cached in the MountState the Effect runs with (MountRuntime).
 */
export const detectEffect = (options: { readonly refresh?: boolean } = {}): Effect.Effect<DetectReport> =>
  Effect.gen(function*() {
    const state = yield* MountRuntime
    if (state.detected !== undefined && options.refresh !== true) return state.detected
    const kernel = kernelVersion()
    const overlay = overlayInKernel()
    const uid = process.getuid?.() ?? -1
    const capSysAdmin = hasCapSysAdmin()
    const userns = userNamespaces()
    const device = yield* Effect.promise(() => access("/dev/fuse", constants.R_OK | constants.W_OK).then(() => true, () => false))
    const binary = findOnPath("fuse-overlayfs")
    const fusermount = findOnPath("fusermount3") ?? findOnPath("fusermount")
    const depth = yield* maxStackDepthEffect
    const mountTool = yield* mountToolEffect
    const drivers: Array<DriverVerdict> = []

    const kernelReasons = [overlay.reason]
    if (!overlay.available) drivers.push({ driver: "kernel", usable: false, reasons: kernelReasons })
    else if (!capSysAdmin) drivers.push({ driver: "kernel", usable: false, reasons: [...kernelReasons, `uid ${uid} lacks CAP_SYS_ADMIN: run as root for kernel mounts`] })
    else {
      const failure = yield* probeKernel
      // the helper answering a ping proves perl runs it here; if not, helperStatus() says mount(8) from now on
      if (failure === undefined && helperStatus(state).enabled) yield* Effect.ignore(pingHelper)
      const { via, reason } = helperStatus(state)
      drivers.push({
        driver: "kernel",
        usable: failure === undefined,
        reasons: [...kernelReasons, "CAP_SYS_ADMIN held", failure === undefined ? "probe mount succeeded" : `probe mount failed: ${failure}`, `mounts with ${via}: ${reason}`]
      })
    }

    const rootlessReasons: Array<string> = [userns.reason]
    const userxattr = kernelAtLeast(kernel, 5, 11)
    rootlessReasons.push(userxattr ? `kernel ${kernel.release} >= 5.11 has overlay userxattr` : `kernel ${kernel.release} < 5.11: no overlay in user namespaces`)
    if (!overlay.available || !userns.allowed || !userxattr || findOnPath("unshare") === undefined) {
      if (findOnPath("unshare") === undefined) rootlessReasons.push("unshare(1) not found (util-linux)")
      drivers.push({ driver: "rootless", usable: false, reasons: rootlessReasons })
    } else {
      const failure = yield* probe(rootlessDriver)
      drivers.push({ driver: "rootless", usable: failure === undefined, reasons: [...rootlessReasons, failure === undefined ? "probe mount in a user namespace succeeded" : `probe failed: ${failure}`] })
    }

    const fuseReasons = [
      device ? "/dev/fuse is readable and writable" : "/dev/fuse is missing or not accessible",
      binary !== undefined ? `fuse-overlayfs at ${binary}` : "fuse-overlayfs not installed (apt-get install fuse-overlayfs)"
    ]
    if (uid !== 0) fuseReasons.push(fusermount !== undefined ? `fusermount at ${fusermount}` : "fusermount3 not installed (fuse3)")
    if (!device || binary === undefined || (uid !== 0 && fusermount === undefined)) drivers.push({ driver: "fuse", usable: false, reasons: fuseReasons })
    else {
      const failure = yield* probe(fuseDriver)
      drivers.push({ driver: "fuse", usable: failure === undefined, reasons: [...fuseReasons, failure === undefined ? "probe mount succeeded" : `probe failed: ${failure}`] })
    }

    const cp = findOnPath("cp")
    const getfattr = findOnPath("getfattr")
    drivers.push({
      driver: "copy",
      usable: cp !== undefined,
      reasons: [
        cp !== undefined ? "materializes the merged tree with cp (always available, slower, uses disk)" : "cp(1) not found",
        getfattr !== undefined ? "getfattr/setfattr found: opaque directories honoured" : "getfattr not found (Debian package attr): opaque directories in layers are not honoured"
      ]
    })
    const report: DetectReport = { kernel, overlayInKernel: overlay.available, uid, capSysAdmin, userNamespaces: userns, fuse: { device, binary, fusermount }, maxStackDepth: depth, mountTool, mountCall: pick(helperStatus(state)), drivers }
    state.detected = report
    return report
  })

export const detect = (options?: { readonly refresh?: boolean }): Promise<DetectReport> => Effect.runPromise(detectEffect(options))

/** The first usable driver of `allow` (in that order), or NoUsableDriverError listing why not. Pure. */
export const chooseDriver = (report: DetectReport, allow: ReadonlyArray<DriverName> = DRIVER_NAMES): DriverName => {
  for (const name of allow) if (report.drivers.find((d) => d.driver === name)?.usable === true) return name
  throw new NoUsableDriverError({
    rejected: allow.map((name) => {
      const v = report.drivers.find((d) => d.driver === name)
      return { driver: name, reason: v === undefined ? "unknown driver" : v.reasons.join(", ") }
    })
  })
}

export const chooseDriverEffect = (report: DetectReport, allow?: ReadonlyArray<DriverName>): Effect.Effect<DriverName, NoUsableDriverError> =>
  Effect.try({ try: () => chooseDriver(report, allow), catch: (e) => e as NoUsableDriverError })

