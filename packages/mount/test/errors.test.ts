import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  acquireMount,
  chooseDriver,
  CrossFilesystemWorkDirError,
  type DetectReport,
  kernelDriver,
  maxStackDepth,
  MountFailedError,
  mount,
  NoUsableDriverError,
  NotADirectoryError,
  type OverlaySpec,
  PathNotFoundError,
  TargetIsMountPointError,
  TooManyLayersError,
  UnsupportedUpperFilesystemError
} from "../src/index.js"
import { containerDirs, dirs, isRoot, noLeak, viaMountCall } from "./fixtures.js"

if (!isRoot) console.warn("[@cairn/mount] skipping bad-input mount tests: they need root to build tmpfs/overlay fixtures")

/** The typed error a failed mount rejects with (the Promise facade rejects with the error itself). */
const failure = (s: OverlaySpec) => noLeak(() => mount(s, { driver: "kernel" }).then(() => expect.fail("mounted"), (e: unknown) => e))

describe.skipIf(!isRoot)("bad input is a typed error saying what to do", () => {
  let [root, lower, upper, work, target] = ["", "", "", "", ""]
  let cleanup = () => {}
  beforeEach(() => {
    ;({ root, cleanup, lower, upper, work, target } = containerDirs())
  })
  afterEach(() => cleanup())

  it("names a missing lower layer and its position", async () => {
    const e = await failure({ lowers: [lower, join(root, "nope")], upper, work, target })
    expect(e).toBeInstanceOf(PathNotFoundError)
    expect(e).toMatchObject({ role: "lower layer 1 of 2", path: join(root, "nope") })
    expect((e as Error).message).toMatch(/does not exist: create it/)
  })

  it("names a missing target", async () => {
    const e = await failure({ lowers: [lower], target: join(root, "absent") })
    expect(e).toMatchObject({ _tag: "PathNotFoundError", role: "target" })
  })

  it("refuses a lower that is a regular file", async () => {
    writeFileSync(join(root, "file"), "x")
    const e = await failure({ lowers: [join(root, "file")], target })
    expect(e).toBeInstanceOf(NotADirectoryError)
    expect(e).toMatchObject({ actual: "regular file" })
  })

  it("refuses a work dir on another filesystem than upper", async () => {
    const [tmpfsWork] = dirs(root, "tmpfs")
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", tmpfsWork as string])
    try {
      const e = await failure({ lowers: [lower], upper, work: tmpfsWork as string, target })
      expect(e).toBeInstanceOf(CrossFilesystemWorkDirError)
      expect((e as CrossFilesystemWorkDirError).upperDevice).not.toBe((e as CrossFilesystemWorkDirError).workDevice)
      expect((e as Error).message).toMatch(/same filesystem/)
    } finally {
      execFileSync("umount", [tmpfsWork as string])
    }
  })

  it("refuses an upper on overlayfs, which cannot host an upper layer", async () => {
    const [l2, u2, w2, m2] = dirs(root, "o/l", "o/u", "o/w", "o/m") as [string, string, string, string]
    const outer = await mount({ lowers: [l2], upper: u2, work: w2, target: m2 }, { driver: "kernel" })
    try {
      const [innerUpper, innerWork] = dirs(m2, "upper", "work") as [string, string]
      const e = await failure({ lowers: [lower], upper: innerUpper, work: innerWork, target })
      expect(e).toBeInstanceOf(UnsupportedUpperFilesystemError)
      expect(e).toMatchObject({ filesystem: "overlayfs" })
    } finally {
      await outer.unmount()
    }
  })

  it("refuses an upper on a read-only filesystem", async () => {
    const [ro] = dirs(root, "ro")
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", ro as string])
    try {
      dirs(ro as string, "u", "w")
      execFileSync("mount", ["-o", "remount,ro", ro as string])
      const e = await failure({ lowers: [lower], upper: join(ro as string, "u"), work: join(ro as string, "w"), target })
      expect(e).toBeInstanceOf(UnsupportedUpperFilesystemError)
      expect((e as Error).message).toMatch(/not writable/)
    } finally {
      execFileSync("umount", [ro as string])
    }
  })

  it("refuses a target that already is a mount point", async () => {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", target])
    try {
      const e = await failure({ lowers: [lower], target })
      expect(e).toBeInstanceOf(TargetIsMountPointError)
      expect((e as Error).message).toMatch(/unmount it first/)
    } finally {
      execFileSync("umount", [target])
    }
  })

  it("measures the kernel's stack depth and refuses one layer more", async () => {
    const depth = await maxStackDepth()
    expect(depth).toEqual({ limit: 500, source: "probe" })
    const lowers = dirs(root, ...Array.from({ length: depth.limit + 1 }, (_, i) => `l/${i}`))
    const e = await failure({ lowers, target })
    expect(e).toBeInstanceOf(TooManyLayersError)
    expect(e).toMatchObject({ layers: 501, limit: 500 })
    // exactly the limit mounts (through short links: 500 paths overflow a page)
    const m = await noLeak(() => Effect.runPromise(kernelDriver.mount({ lowers: lowers.slice(0, 500), target })).then((x) => Effect.runPromise(x.unmount())))
    expect(m).toBeUndefined()
  })

  it.each(["mount(2) via helper", "mount(8)"] as const)("reports a mount the kernel refuses with the kernel's own reason (%s)", async (via) => {
    const [l2] = dirs(root, "lower2")
    const e = await viaMountCall(via, () => failure({ lowers: [lower, l2 as string], upper, work, target, options: { userxattr: true, metacopy: true, redirectDir: "on" } }))
    expect(e).toBeInstanceOf(MountFailedError)
    expect(e).toMatchObject({ driver: "kernel", exitCode: 32 })
    if (via === "mount(8)") expect((e as MountFailedError).command).toMatch(/mount .*-t overlay overlay -o lowerdir=/)
    else {
      expect((e as MountFailedError).command).toMatch(/^mount\(2\) overlay on \/\S+\/merged -o lowerdir=/)
      expect(e).toMatchObject({ errno: "EINVAL", stderr: "Invalid argument" })
      expect((e as Error).message).toMatch(/: EINVAL \(Invalid argument\)/)
    }
    expect((e as MountFailedError).kernelLog ?? "no dmesg access").toMatch(/overlayfs: |no dmesg access/)
  })

  it("fails with NoUsableDriverError when no allowed driver is usable", async () => {
    const e = await Effect.runPromise(Effect.flip(acquireMount({ lowers: [lower], target }, { allow: [] })))
    expect(e).toBeInstanceOf(NoUsableDriverError)
  })
})

describe("chooseDriver", () => {
  const report = (usable: Partial<Record<string, boolean>>): DetectReport => ({
    kernel: { major: 6, minor: 1, patch: 0, release: "6.1.0" },
    overlayInKernel: true,
    uid: 1000,
    capSysAdmin: false,
    userNamespaces: { allowed: false, reason: "sysctl kernel.unprivileged_userns_clone=0 (Debian): set it to 1" },
    fuse: { device: false, binary: undefined, fusermount: undefined },
    maxStackDepth: { limit: 500, source: "default" },
    mountTool: { version: "2.38.1", lowerdirPlus: false },
    mountCall: { via: "mount(8)", reason: "CAIRN_MOUNT_HELPER=0" },
    drivers: (["kernel", "rootless", "fuse", "copy"] as const).map((driver) => ({ driver, usable: usable[driver] === true, reasons: [`${driver} reason`] }))
  })

  it("takes the first usable driver in the caller's order", () => {
    expect(chooseDriver(report({ fuse: true, copy: true }))).toBe("fuse")
    expect(chooseDriver(report({ fuse: true, copy: true }), ["copy", "fuse"])).toBe("copy")
  })

  it("without privilege and without an allowed fallback, says why each driver was rejected", () => {
    try {
      chooseDriver(report({ copy: true }), ["kernel", "rootless", "fuse"])
      expect.fail("chose a driver")
    } catch (e) {
      expect(e).toBeInstanceOf(NoUsableDriverError)
      expect((e as NoUsableDriverError).rejected.map((r) => r.driver)).toEqual(["kernel", "rootless", "fuse"])
      expect((e as Error).message).toMatch(/run as root, enable unprivileged user namespaces, install fuse-overlayfs, or allow the copy driver/)
    }
  })
})
