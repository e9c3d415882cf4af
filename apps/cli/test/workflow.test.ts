import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { busyboxWorkspace, e2eSkipReason, have, mountsUnder } from "./fixtures.js"
import { cairn } from "./run.js"

const skip = e2eSkipReason()
if (skip) console.warn(`skipping cairn workflow tests: ${skip}`)

const mounts = () => mountsUnder("cairn-cli-")

describe.skipIf(skip !== undefined)("cairn workflow: import, container, commit, history, df", () => {
  let tmp: string
  let root: string
  let layout: string
  const r = (...args: string[]) => cairn("--root", root, ...args)

  let cleanup: () => void
  beforeAll(() => {
    ;({ tmp, root, layout, cleanup } = busyboxWorkspace("cairn-cli-"))
  })
  afterAll(() => cleanup())

  it("imports an OCI layout and lists it", async () => {
    const imp = await r("import", `oci:${layout}:busybox`, "busybox")
    // stdout is not a TTY: plain progress, one line per blob state change, and nothing else
    expect(imp.stderr).toMatch(/^([0-9a-f]{12}: (store|extract|store done|extract done|done) \S+( \(\S+\/s\))?\n)+$/)
    expect(imp.code).toBe(0)
    const list = await r("images", "--json")
    expect(list.code).toBe(0)
    const images = JSON.parse(list.stdout) as { names: string[]; digest: string }[]
    expect(images.some((i) => i.names.includes("busybox:latest"))).toBe(true)
    const human = await r("images")
    expect(human.stdout).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/m)
    expect(human.stdout).toMatch(/^busybox\s+latest\s+[0-9a-f]{12}\s/m)
  })

  it("reads files of an image without mounting", async () => {
    const cat = await r("cat", "busybox", "/etc/motd")
    expect(cat.stdout).toBe("welcome to the fixture\n")
    const ls = await r("ls", "--json", "busybox", "/bin")
    const names = (JSON.parse(ls.stdout) as { name: string }[]).map((e) => e.name.replace(/^\/?bin\//, ""))
    expect(names).toEqual(expect.arrayContaining(["busybox", "sh", "echo"]))
  })

  it("creates, mounts, changes, diffs, commits and removes a container", async () => {
    const before = mounts().length
    const created = await r("create", "--name", "c1", "busybox")
    expect(created.code).toBe(0)
    const id = created.stdout.trim()
    expect(id).toMatch(/^[0-9a-f]{12,64}$/)
    const m = await r("mount", "c1")
    expect(m.code).toBe(0)
    const mp = m.stdout.trim()
    expect(readFileSync(join(mp, "etc/motd"), "utf8")).toBe("welcome to the fixture\n")
    writeFileSync(join(mp, "hello.txt"), "hi from a container\n")
    writeFileSync(join(mp, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
    unlinkSync(join(mp, "etc/motd"))
    // mounting again answers the same path, as podman does
    const twice = await r("mount", "c1")
    expect(twice.code).toBe(0)
    expect(twice.stdout.trim()).toBe(mp)

    const diff = await r("diff", "c1")
    expect(diff.stdout.split("\n")).toEqual(expect.arrayContaining(["A /hello.txt", "C /etc/passwd", "D /etc/motd"]))

    const commit = await r("commit", "-m", "greeted", "c1", "busybox:v2")
    expect(commit.code).toBe(0)
    expect(commit.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/)
    const hist = JSON.parse((await r("history", "--json", "busybox:v2")).stdout) as { comment?: string }[]
    expect(hist[0]?.comment).toBe("greeted") // newest first, as docker history prints
    expect((await r("cat", "busybox:v2", "/hello.txt")).stdout).toBe("hi from a container\n")
    const gone = await r("cat", "busybox:v2", "/etc/motd")
    expect(gone.code).toBe(1)

    expect((await r("rm", "c1")).code).toBe(1) // still mounted
    expect((await r("umount", "c1")).code).toBe(0)
    expect(mounts().length).toBe(before)
    expect((await r("rm", "c1")).code).toBe(0)
    expect(JSON.parse((await r("ps", "--json")).stdout)).toEqual([])
    // the base image is untouched by the container
    expect((await r("cat", "busybox", "/etc/motd")).stdout).toBe("welcome to the fixture\n")
  })

  it("accounts space with df and keeps the root fsck-clean", async () => {
    const df = JSON.parse((await r("df", "--json")).stdout) as { images: { shared: number }[] }
    expect(df.images.length).toBeGreaterThanOrEqual(2)
    expect(df.images.every((i) => i.shared > 0)).toBe(true) // both images share the busybox layer
    const fsck = await r("fsck", "--json")
    expect(fsck.code).toBe(0)
  })

  it("takes --hasher wasm|native on the commands that hash, and refuses another core", async () => {
    for (const hasher of ["native", "wasm"]) {
      const fsck = await r("--hasher", hasher, "fsck", "--json")
      expect(fsck.code, fsck.stderr).toBe(0)
    }
    const bad = await r("fsck", "--hasher", "md5")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--hasher must be wasm or native, got "md5"/)
  })

  it("benchmarks extraction of an image with both digests verified", async () => {
    const res = await r("bench", "extract", "--runs", "2", "--hasher", "node", "busybox")
    expect(res.code).toBe(0)
    const report = JSON.parse(res.stdout) // stdout is not a TTY here: JSON
    expect(report).toMatchObject({ runs: 2, hasher: "node", mode: "flat" })
    expect(report.layers).toHaveLength(1)
    expect(report.layers[0].seconds).toHaveLength(2)
    expect(report.layers[0].tarBytes).toBeGreaterThan(report.layers[0].compressedBytes)
    expect(report.total.uncompressedMBps).toBeGreaterThan(0)
    expect(report.peakRssBytes).toBeGreaterThan(10_000_000)
    const bad = await r("bench", "compress", "busybox")
    expect(bad.code).toBe(2)
  })

  it("fails in one readable line for a missing image, exit 1", async () => {
    const res = await r("inspect", "nope:latest")
    expect(res.code).toBe(1)
    expect(res.stderr.trim().split("\n")).toHaveLength(1)
    expect(res.stderr).toMatch(/nope/)
  })

  it.skipIf(!have("crun"))("writes a bundle that crun runs", async () => {
    const dir = join(tmp, "runtime-bundle")
    const b = await r("bundle", "busybox", dir)
    expect({ code: b.code, stderr: b.stderr }).toEqual({ code: 0, stderr: "" })
    expect(existsSync(join(dir, "rootfs/bin/busybox"))).toBe(true)
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))
    cfg.process.args = ["/bin/echo", "hello from crun"]
    writeFileSync(join(dir, "config.json"), JSON.stringify(cfg))
    const id = `cairn-cli-${process.pid}`
    let res = spawnSync("crun", ["run", "--bundle", dir, id], { encoding: "utf8", timeout: 60_000 })
    if (res.status !== 0 && /hybrid/.test(res.stderr)) {
      // crun refuses a host that mounts cgroup v2 beside v1: run it in a mount namespace without it
      spawnSync("crun", ["delete", "-f", id])
      res = spawnSync(
        "unshare",
        ["-m", "sh", "-c", `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --cgroup-manager=disabled run --bundle "$0" "$1"`, dir, id],
        { encoding: "utf8", timeout: 60_000 }
      )
    }
    spawnSync("crun", ["delete", "-f", id])
    expect(res.stderr).toBe("")
    expect(res.stdout).toContain("hello from crun")
  })

  it("runs as a real process: no progress bars when stdout is not a TTY, JSON on --json", () => {
    const bin = join(import.meta.dirname, "../bin/cairn.js")
    if (!existsSync(join(import.meta.dirname, "../dist/main.js"))) return console.warn("skipping binary test: apps/cli is not built")
    const res = spawnSync(process.execPath, [bin, "--root", root, "images", "--json"], { encoding: "utf8" })
    expect(res.status).toBe(0)
    expect(() => JSON.parse(res.stdout)).not.toThrow()
    const bad = spawnSync(process.execPath, [bin, "--root", root, "tag"], { encoding: "utf8" })
    expect(bad.status).toBe(2)
  })
})
