import { execFile, execFileSync } from "node:child_process"
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  detect,
  listMounts,
  MountFailedError,
  MountHelperExitedError,
  mount,
  mountAt,
  type OverlaySpec,
  planOverlayMount,
  UnmountFailedError
} from "../src/index.js"
import { performSyscallMount, planCalls } from "../src/mount-command.js"
import { describeMountCall, MS_BIND, MS_NOSUID, MS_RDONLY, MS_RELATIME, MS_REMOUNT, mountFlags } from "../src/flags.js"
import { helperPid, helperStatus, pingHelper, sysUmount } from "../src/helper.js"
import { buildDist, containerDirs, dirs, isRoot, noLeak, packageDir, viaMountCall, writeTree } from "./fixtures.js"

const helperUsable = isRoot && helperStatus().enabled
if (!isRoot) console.warn("[@cairn/mount] skipping mount(2) helper tests: they need root")
else if (!helperUsable) console.warn(`[@cairn/mount] skipping mount(2) helper tests: ${helperStatus().reason}`)

const VIAS = ["mount(2) via helper", "mount(8)"] as const

/** Kills the helper and waits until its exit has been seen (so the next call starts a new one). */
const killHelper = async (signal: NodeJS.Signals = "SIGKILL") => {
  const pid = helperPid()
  if (pid === undefined) return
  process.kill(pid, signal)
  for (let i = 0; i < 500 && helperPid() === pid; i++) await new Promise((r) => setTimeout(r, 10))
  expect(helperPid()).toBeUndefined()
}

describe("mount(2) call planning", () => {
  it("turns the generic options of mount data into MS_* flags and leaves the overlay options", () => {
    expect(mountFlags("lowerdir=a:b,ro,nosuid,relatime,index=off")).toEqual({ flags: MS_RDONLY | MS_NOSUID | MS_RELATIME, data: "lowerdir=a:b,index=off" })
    expect(mountFlags("ro,rw,lowerdir=a")).toEqual({ flags: 0, data: "lowerdir=a" })
    expect(mountFlags("lowerdir=a:b,upperdir=u,workdir=w,userxattr")).toEqual({ flags: 0, data: "lowerdir=a:b,upperdir=u,workdir=w,userxattr" })
  })

  it("binds a single lower, then remounts it read-only", () => {
    const plan = planOverlayMount({ lowers: ["/l"], target: "/m" })
    expect(planCalls(plan, undefined)).toEqual([
      { source: "/l", target: "/m", fstype: null, flags: MS_BIND, data: null },
      { source: null, target: "/m", fstype: null, flags: MS_REMOUNT | MS_BIND | MS_RDONLY, data: null }
    ])
  })

  it("describes a call as a person would type it", () => {
    const [call] = planCalls(planOverlayMount({ lowers: ["/a", "/b"], target: "/m" }), undefined)
    expect(call && describeMountCall(call)).toBe("mount(2) overlay on /m -o lowerdir=/a:/b")
    const [, remount] = planCalls(planOverlayMount({ lowers: ["/l"], target: "/m" }), undefined)
    expect(remount && describeMountCall(remount)).toBe("mount(2) on /m flags=MS_RDONLY|MS_REMOUNT|MS_BIND")
  })

  it("falls back to mount(8) when CAIRN_MOUNT_HELPER=0", async () => {
    await viaMountCall("mount(8)", async () => {
      expect(helperStatus()).toMatchObject({ enabled: false, via: "mount(8)", reason: expect.stringMatching(/CAIRN_MOUNT_HELPER=0/) })
    })
  })
})

describe.skipIf(!helperUsable)("mount(2) through the helper", () => {
  let [root, lower, upper, work, target] = ["", "", "", "", ""]
  let cleanup = () => {}
  beforeEach(() => {
    ;({ root, cleanup, lower, upper, work, target } = containerDirs())
  })
  afterEach(() => cleanup())

  /** Mounts with the kernel driver, runs body on the merged path, unmounts; returns body's result and the mount's fs options. */
  const mounted = <A>(spec: OverlaySpec, body: (path: string) => A) =>
    noLeak(async () => {
      const m = await mount(spec, { driver: "kernel" })
      try {
        const info = mountAt(await listMounts(), spec.target)
        return { result: body(m.path), fsType: info?.fsType, ro: info?.mountOptions.includes("ro") }
      } finally {
        await m.unmount()
      }
    })

  it("detect() reports the helper and proves it with a ping", async () => {
    const report = await detect({ refresh: true })
    expect(report.mountCall.via).toBe("mount(2) via helper")
    expect(report.drivers.find((d) => d.driver === "kernel")?.reasons.join("; ")).toMatch(/mounts with mount\(2\) via helper/)
    expect(helperPid()).toBeGreaterThan(0)
  })

  it("gives the same merged view and copy-up through mount(2) and mount(8)", async () => {
    const [top] = dirs(root, "top")
    writeTree(lower, { "etc/os-release": "base\n", "etc/hosts": "127.0.0.1\n", "bin/sh": "#!sh\n" })
    writeTree(top as string, { "etc/os-release": "top\n", "app/main.js": "main\n" })
    const seen: Array<unknown> = []
    for (const via of VIAS) {
      const [u, w] = dirs(root, `${via}-upper`, `${via}-work`) as [string, string]
      await killHelper()
      const view = await viaMountCall(via, () =>
        mounted({ lowers: [top as string, lower], upper: u, work: w, target }, (p) => {
          writeFileSync(join(p, "etc/hosts"), "changed\n")
          return { root: readdirSync(p).sort(), os: readFileSync(join(p, "etc/os-release"), "utf8"), etc: readdirSync(join(p, "etc")).sort() }
        })
      )
      // mount(8) must not have started a helper; mount(2) must have
      expect(helperPid() === undefined).toBe(via === "mount(8)")
      seen.push({ ...view, upper: readFileSync(join(u, "etc/hosts"), "utf8") })
    }
    expect(seen[0]).toEqual({ result: { root: ["app", "bin", "etc"], os: "top\n", etc: ["hosts", "os-release"] }, fsType: "overlay", ro: false, upper: "changed\n" })
    expect(seen[1]).toEqual(seen[0])
  })

  it("gives the same read-only bind view of a single lower through mount(2) and mount(8)", async () => {
    writeTree(lower, { "etc/os-release": "base\n" })
    const seen: Array<unknown> = []
    for (const via of VIAS) {
      const view = await viaMountCall(via, () =>
        mounted({ lowers: [lower], target }, (p) => {
          expect(() => writeFileSync(join(p, "etc/os-release"), "x")).toThrow(/EROFS|read-only/)
          return readFileSync(join(p, "etc/os-release"), "utf8")
        })
      )
      seen.push(view)
    }
    expect(seen[0]).toMatchObject({ result: "base\n", ro: true })
    expect(seen[1]).toEqual(seen[0])
  })

  it.each(["relative", "links"] as const)("mounts 120 layers with long paths through the %s strategy", async (strategy) => {
    // relative: long common parent, short names; links: long names too, so only symlinks fit a page
    const parent = join(root, "x".repeat(60), "y".repeat(60))
    const lowers: Array<string> = []
    for (let i = 0; i < 120; i++) {
      const name = strategy === "relative" ? String(i) : `sha256-${String(i).padStart(64, "0")}`
      const l = join(parent, name)
      mkdirSync(l, { recursive: true })
      writeFileSync(join(l, `f${i}`), `${i}`)
      writeFileSync(join(l, "shared"), `${i}`)
      lowers.push(l)
    }
    const [u, w] = dirs(parent, "upper", "work") as [string, string]
    const spec = { lowers, upper: u, work: w, target }
    expect(planOverlayMount(spec).strategy).toBe(strategy)
    const { result } = await mounted(spec, (p) => ({
      shared: readFileSync(join(p, "shared"), "utf8"),
      count: readdirSync(p).length,
      some: [0, 57, 119].map((i) => readFileSync(join(p, `f${i}`), "utf8"))
    }))
    expect(result).toEqual({ shared: "0", count: 121, some: ["0", "57", "119"] })
  })

  it("answers concurrent calls in order, each mount with its own layers", async () => {
    const specs = Array.from({ length: 4 }, (_, i) => {
      const [l, l2, u, w, t] = dirs(root, `c${i}/l`, `c${i}/l2`, `c${i}/u`, `c${i}/w`, `c${i}/m`) as [string, string, string, string, string]
      writeTree(l, { id: `${i}\n` })
      return { lowers: [l, l2], upper: u, work: w, target: t }
    })
    await noLeak(async () => {
      const ms = await Promise.all(specs.map((s) => mount(s, { driver: "kernel" })))
      expect(ms.map((m) => readFileSync(join(m.path, "id"), "utf8"))).toEqual(["0\n", "1\n", "2\n", "3\n"])
      await Promise.all(ms.map((m) => m.unmount()))
    })
  })

  it("reports a missing lower as ENOENT from mount(2), typed, and leaves nothing mounted", async () => {
    // past preflight (which would name the path first): the plan goes to the helper as is
    const plan = planOverlayMount({ lowers: [lower, join(root, "gone")], upper, work, target })
    const e = await noLeak(() =>
      Effect.runPromise(Effect.flip(performSyscallMount(plan, Effect.die("fell back to mount(8)"))))
    )
    expect(e).toBeInstanceOf(MountFailedError)
    expect(e).toMatchObject({ driver: "kernel", errno: "ENOENT", stderr: "No such file or directory" })
    expect((e as Error).message).toContain(`mount(2) overlay on ${target} -o lowerdir=${lower}:${join(root, "gone")}`)
  })

  it("reports a work dir on another filesystem as the kernel's EINVAL with its log line", async () => {
    const [tmpfs] = dirs(root, "tmpfs") as [string]
    const plan = planOverlayMount({ lowers: [lower], upper, work: tmpfs, target })
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", tmpfs])
    try {
      const e = await noLeak(() => Effect.runPromise(Effect.flip(performSyscallMount(plan, Effect.die("fell back to mount(8)")))))
      expect(e).toBeInstanceOf(MountFailedError)
      expect(e).toMatchObject({ errno: "EINVAL", stderr: "Invalid argument", exitCode: 32 })
      expect((e as MountFailedError).kernelLog ?? "no dmesg access").toMatch(/overlayfs: .*|no dmesg access/)
    } finally {
      execFileSync("umount", [tmpfs])
    }
  })

  it("retries a busy umount2, fails with EBUSY, then detaches lazily", async () => {
    writeTree(lower, { "etc/os-release": "base\n" })
    await noLeak(async () => {
      const m = await mount({ lowers: [lower], upper, work, target }, { driver: "kernel" })
      const fd = openSync(join(target, "etc/os-release"), "r")
      try {
        const e = await m.unmount({ retries: 2 }).then(() => expect.fail("unmounted a busy mount"), (x: unknown) => x)
        expect(e).toBeInstanceOf(UnmountFailedError)
        expect(e).toMatchObject({ errno: "EBUSY", attempts: 2 })
        expect((e as Error).message).toMatch(/umount2\(2\) .*EBUSY: Device or resource busy/)
        await m.unmount({ retries: 1, lazy: true })
        expect(mountAt(await listMounts(), target)).toBeUndefined()
      } finally {
        closeSync(fd)
      }
    })
  })

  it("fails a pending call with MountHelperExitedError when the helper dies, and starts a new one next time", async () => {
    await Effect.runPromise(pingHelper)
    const pid = helperPid() as number
    // a stopped helper holds the request unanswered, so the kill lands while it is pending
    process.kill(pid, "SIGSTOP")
    const pending = Effect.runPromise(Effect.flip(sysUmount(target, 0)))
    process.kill(pid, "SIGKILL")
    const e = await pending
    expect(e).toBeInstanceOf(MountHelperExitedError)
    expect(e).toMatchObject({ pid, signal: "SIGKILL", reason: "was killed by SIGKILL" })
    expect((e as Error).message).toMatch(/next call starts a new helper/)
    expect(helperStatus().enabled).toBe(true)

    writeTree(lower, { "etc/os-release": "base\n" })
    const { result } = await mounted({ lowers: [lower], upper, work, target }, (p) => readFileSync(join(p, "etc/os-release"), "utf8"))
    expect(result).toBe("base\n")
    expect(helperPid()).toBeGreaterThan(0)
    expect(helperPid()).not.toBe(pid)
  })

  it("does not keep a Node process alive: a child that mounts and unmounts exits by itself", async () => {
    buildDist()
    writeTree(lower, { "etc/os-release": "base\n" })
    const script = `
      import { helperPid } from ${JSON.stringify(join(packageDir, "dist/helper.js"))}
      import { mount } from ${JSON.stringify(join(packageDir, "dist/index.js"))}
      const m = await mount(${JSON.stringify({ lowers: [lower], upper, work, target })}, { driver: "kernel" })
      await m.unmount()
      console.log(helperPid())
    `
    // the 30 s kill is a watchdog for a hang, not a timing assertion
    const r = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 }, (_, stdout) =>
        resolve({ code: child.exitCode, signal: child.signalCode, stdout }))
    })
    expect(r).toMatchObject({ code: 0, signal: null })
    // the helper ran (a pid was printed) and ended with its parent (stdin closed)
    const pid = Number(r.stdout.trim())
    expect(pid).toBeGreaterThan(0)
    for (let i = 0; i < 200 && processExists(pid); i++) await new Promise((res) => setTimeout(res, 10))
    expect(processExists(pid)).toBe(false)
    expect(mountAt(await listMounts(), target)).toBeUndefined()
  })
})

/** Running, not a zombie (an orphan waits for whoever reaps it, which may be slow in a container). */
const processExists = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}
