import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, busyboxLayer, haveTool, tempDir } from "./fixtures.js"

const haveCrun = haveTool("crun")
if (!haveCrun) console.warn("skipping crun run: crun is not installed (Debian package crun)")

describe("unpack and bundle", () => {
  let dir: string
  let engine: Engine
  beforeAll(async () => {
    dir = tempDir()
    buildLayout(join(dir, "src"), "bb", [busyboxLayer, { files: { "etc/motd": "hi\n" }, whiteouts: ["bin/ls"] }], {
      Entrypoint: ["/bin/echo"],
      Cmd: ["hello from cairn"],
      User: "nobody",
      WorkingDir: "/tmp"
    })
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "src")}:bb`)
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("unpacks a flat rootfs where whiteouts deleted what they name", async () => {
    const out = join(dir, "flat")
    await engine.unpack("bb", out)
    expect(readFileSync(join(out, "etc", "motd"), "utf8")).toBe("hi\n")
    expect(existsSync(join(out, "bin", "busybox"))).toBe(true)
    expect(existsSync(join(out, "bin", "ls"))).toBe(false)
    expect(existsSync(join(out, "bin", ".wh.ls"))).toBe(false)
  })

  it("writes a runtime-spec config.json derived from the image config", async () => {
    const b = join(dir, "bundle-spec")
    await engine.bundle("bb", b)
    const spec = JSON.parse(readFileSync(join(b, "config.json"), "utf8"))
    expect(spec.process.args).toEqual(["/bin/echo", "hello from cairn"])
    expect(spec.process.cwd).toBe("/tmp")
    expect(spec.process.user).toEqual({ uid: 65534, gid: 65534 })
    expect(spec.process.terminal).toBe(false)
    expect(spec.root).toEqual({ path: "rootfs", readonly: false })
    expect(spec.linux.namespaces.map((n: { type: string }) => n.type).sort()).toEqual(["ipc", "mount", "network", "pid", "uts"])
    expect(spec.process.env).toContain("PATH=/bin:/usr/bin")
  })

  it.skipIf(!haveCrun)("runs with crun: busybox echo prints its argument", async () => {
    const b = join(dir, "bundle-run")
    await engine.bundle("bb", b)
    const id = `cairn-test-${process.pid}`
    let r = spawnSync("crun", ["run", "--bundle", b, id], { encoding: "utf8", timeout: 60_000 })
    if (r.stderr.includes("hybrid mode")) {
      // this machine mounts a cgroup2 with controllers beside cgroup v1 (crun refuses that): run it
      // in a private mount namespace without the v2 mount and without a cgroup manager
      console.warn("crun refuses hybrid cgroups here; retrying in a mount namespace without /sys/fs/cgroup/unified")
      spawnSync("crun", ["delete", "-f", id])
      r = spawnSync(
        "unshare",
        ["-m", "sh", "-c", `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --cgroup-manager=disabled run --bundle "$0" "$1"`, b, id],
        { encoding: "utf8", timeout: 60_000 }
      )
    }
    spawnSync("crun", ["delete", "-f", id])
    expect(r.stderr).toBe("")
    expect(r.stdout).toBe("hello from cairn\n")
  })

  it("refuses a non-empty target", async () => {
    const out = join(dir, "flat2")
    execFileSync("mkdir", ["-p", join(out, "x")])
    await expect(engine.unpack("bb", out)).rejects.toMatchObject({ _tag: "InvalidSourceError" })
  })
})
