import { execFileSync } from "node:child_process"
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Effect } from "effect"
import {
  cleanupStale,
  detect,
  listMounts,
  listMountsEffect,
  Mounter,
  mount,
  mountAt,
  runInNamespace,
  UnmountFailedError,
  unmount
} from "../src/index.js"
import { containerDirs, dirs, isRoot, noLeak, ourMounts, writeTree } from "./fixtures.js"

const report = await detect()
const rootlessUsable = report.drivers.find((d) => d.driver === "rootless")?.usable === true
if (!isRoot) console.warn("[@cairn/mount] skipping mount lifecycle tests: they need root")
if (!rootlessUsable) console.warn(`[@cairn/mount] skipping runInNamespace tests: ${report.drivers.find((d) => d.driver === "rootless")?.reasons.join("; ")}`)

describe("detect", () => {
  it("reports every driver with the reasons for its verdict", () => {
    expect(report.drivers.map((d) => d.driver)).toEqual(["kernel", "rootless", "fuse", "copy"])
    for (const d of report.drivers) expect(d.reasons.length).toBeGreaterThan(0)
    expect(report.drivers.find((d) => d.driver === "copy")?.usable).toBe(true)
    expect(report.kernel.major).toBeGreaterThan(0)
    expect(report.mountTool.version).toMatch(/^2\.\d+/)
  })

  it.skipIf(!isRoot)("proves the kernel driver with a probe mount when root", () => {
    const kernel = report.drivers.find((d) => d.driver === "kernel")
    expect(report.capSysAdmin).toBe(true)
    expect(kernel?.usable).toBe(true)
    expect(kernel?.reasons).toContain("probe mount succeeded")
  })
})

describe.skipIf(!isRoot)("mount lifecycle", () => {
  let [root, lower, upper, work, target] = ["", "", "", "", ""]
  let cleanup = () => {}
  beforeEach(() => {
    ;({ root, cleanup, lower, upper, work, target } = containerDirs())
    writeTree(lower, { "etc/os-release": "lower\n" })
  })
  afterEach(() => cleanup())

  it("mounts through the Promise facade with the best driver and unmounts", async () => {
    await noLeak(async () => {
      const m = await mount({ lowers: [lower], upper, work, target })
      expect(m.driver).toBe("kernel")
      expect(mountAt(await listMounts(), target)?.fsType).toBe("overlay")
      expect(readFileSync(join(m.path, "etc/os-release"), "utf8")).toBe("lower\n")
      await m.unmount()
      expect(mountAt(await listMounts(), target)).toBeUndefined()
    })
  })

  it("provides the mounter as a service whose scope unmounts", async () => {
    await noLeak(async () => {
      const program = Effect.scoped(
        Effect.gen(function*() {
          const mounter = yield* Mounter
          const m = yield* mounter.mount({ lowers: [lower], upper, work, target })
          return [m.driver, readFileSync(join(m.path, "etc/os-release"), "utf8"), mountAt(yield* listMountsEffect(), target)?.fsType]
        })
      ).pipe(Effect.provide(Mounter.layer({ driver: "kernel" })))
      expect(await Effect.runPromise(program)).toEqual(["kernel", "lower\n", "overlay"])
      expect(mountAt(await listMounts(), target)).toBeUndefined()
    })
  })

  it("retries a busy unmount, fails typed, and detaches lazily when asked", async () => {
    await noLeak(async () => {
      const m = await mount({ lowers: [lower], upper, work, target }, { driver: "kernel" })
      const fd = openSync(join(target, "etc/os-release"), "r")
      try {
        const e = await m.unmount({ retries: 2 }).then(() => expect.fail("unmounted a busy mount"), (x: unknown) => x)
        expect(e).toBeInstanceOf(UnmountFailedError)
        expect((e as Error).message).toMatch(/busy/i)
        expect(mountAt(await listMounts(), target)).toBeDefined()
        await m.unmount({ retries: 1, lazy: true })
        expect(mountAt(await listMounts(), target)).toBeUndefined()
      } finally {
        closeSync(fd)
      }
    })
  })

  it("treats unmounting what is already gone as done", async () => {
    await expect(unmount(target)).resolves.toBeUndefined()
  })

  it("cleans up every mount a killed process left under a root, deepest first", async () => {
    const before = ourMounts()
    const [l2, u2, w2, m2] = dirs(root, "c2/l", "c2/u", "c2/w", "c2/merged") as [string, string, string, string]
    // as a crashed cairn would leave them: two overlays, a tmpfs inside one of them
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target])
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${l2},upperdir=${u2},workdir=${w2}`, m2])
    dirs(target, "run")
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", join(target, "run")])
    const report = await cleanupStale(root)
    expect(report.failed).toEqual([])
    expect(report.unmounted).toEqual([join(target, "run"), m2, target])
    expect(ourMounts()).toEqual(before)
    expect(existsSync(join(lower, "etc/os-release"))).toBe(true)
  })

  describe.skipIf(!rootlessUsable)("rootless namespace", () => {
    it("runs a command inside a user+mount namespace that sees the mount, leaving none outside", async () => {
      await noLeak(async () => {
        const r = await runInNamespace({ lowers: [lower], upper, work, target }, ["sh", "-c", `cat ${target}/etc/os-release && echo hi > ${target}/new && id -u && grep -c " ${target} " /proc/self/mountinfo`])
        expect(r.stderr).toBe("")
        expect(r.stdout).toBe("lower\n0\n1\n")
        expect(r.exitCode).toBe(0)
      })
      expect(readFileSync(join(upper, "new"), "utf8")).toBe("hi\n")
      expect(mountAt(await listMounts(), target)).toBeUndefined()
    })

    it("passes the command's exit code through and reports a failed mount as MountFailedError", async () => {
      const r = await runInNamespace({ lowers: [lower], target }, ["sh", "-c", "exit 7"])
      expect(r.exitCode).toBe(7)
      // 125 from the command itself is the command's, not a mount failure
      expect((await runInNamespace({ lowers: [lower], target }, ["sh", "-c", "exit 125"])).exitCode).toBe(125)
      writeFileSync(join(work, "junk"), "x")
      const e = await runInNamespace({ lowers: [lower], upper, work: join(root, "nonexistent"), target }, ["true"]).catch((x: unknown) => x)
      expect(e).toMatchObject({ _tag: "PathNotFoundError", role: "work dir" })
      // the kernel refuses metacopy with userxattr (overlayfs.rst), which only the mount can tell
      const f = await runInNamespace({ lowers: [lower], upper, work, target, options: { metacopy: true, redirectDir: "on" } }, ["true"]).catch((x: unknown) => x)
      expect(f).toMatchObject({ _tag: "MountFailedError", driver: "rootless" })
    })

    it("a rootless mount is reachable from this process through the helper's /proc root", async () => {
      await noLeak(async () => {
        const m = await mount({ lowers: [lower], upper, work, target }, { driver: "rootless" })
        expect(m.path).toMatch(/^\/proc\/\d+\/root\//)
        expect(readFileSync(join(m.path, "etc/os-release"), "utf8")).toBe("lower\n")
        expect(mountAt(await listMounts(), target)).toBeUndefined()
        const pid = Number(m.path.split("/")[2])
        await m.unmount()
        expect(existsSync(`/proc/${pid}/root`)).toBe(false)
      })
    })
  })
})
