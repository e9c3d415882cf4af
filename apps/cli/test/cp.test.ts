// `cairn cp` (#16) through the real binary: out of an image and a container (to a path and as a
// tar), into a container (diff shows it, commit keeps it), symlinks in the container that point
// outside it stay inside, and a container not mounted before is not mounted after.
import { spawnSync } from "node:child_process"
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { e2eSkipReason, isRoot, makeBusyboxLayout } from "./fixtures.js"

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
const skip = !built ? "apps/cli is not built (npm test builds it first)" : !isRoot ? "needs root (overlay mounts)" : e2eSkipReason()
if (skip) console.warn(`skipping cairn cp tests: ${skip}`)

describe.skipIf(skip !== undefined)("cairn cp", () => {
  let tmp: string
  let root: string
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, "--root", root, "--progress", "none", ...args], { encoding: "utf8", cwd: tmp })
  const mounted = (c: string) => run("ps", "--format", "{{.Names}} {{.Mounted}}").stdout.includes(`${c} true`)

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-cp-"))
    root = join(tmp, "root")
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    expect(run("import", `oci:${layout}:busybox`, "busybox:1").status).toBe(0)
    expect(run("create", "--name", "cp1", "busybox:1").status).toBe(0)
  })
  afterAll(() => {
    run("rm", "-f", "cp1")
    rmSync(tmp, { recursive: true, force: true })
  })

  it("copies out of an image and a container: a file, a directory with its links, and a tar on stdout", () => {
    expect(run("cp", "busybox:1:/etc/motd", "motd").status).toBe(0)
    expect(readFileSync(join(tmp, "motd"), "utf8")).toBe("welcome to the fixture\n")
    const r = run("cp", "cp1:/bin", "bin-copy")
    expect(r.status, r.stderr).toBe(0)
    expect(readlinkSync(join(tmp, "bin-copy", "sh"))).toBe("busybox")
    expect(lstatSync(join(tmp, "bin-copy", "busybox")).mode & 0o777).toBe(0o755)
    // into an existing directory: under the source's name
    expect(run("cp", "cp1:/etc/motd", "bin-copy").status).toBe(0)
    expect(existsSync(join(tmp, "bin-copy", "motd"))).toBe(true)
    const tar = spawnSync(process.execPath, [bin, "--root", root, "cp", "cp1:/etc", "-"])
    expect(tar.status).toBe(0)
    const list = spawnSync("tar", ["-t"], { input: tar.stdout, encoding: "utf8" }).stdout.split("\n")
    expect(list).toContain("etc/motd")
    const missing = run("cp", "cp1:/nope", "x")
    expect(missing.status).toBe(1)
    expect(missing.stderr).toMatch(/\/nope: no such file or directory in cp1/)
    expect(existsSync(join(tmp, "x"))).toBe(false)
    expect(mounted("cp1")).toBe(false)
  })

  it("copies into a container through its mount: diff shows it, it was not left mounted, commit keeps it", () => {
    writeFileSync(join(tmp, "app.conf"), "key=value\n")
    const r = run("cp", "app.conf", "cp1:/etc/")
    expect(r.status, r.stderr).toBe(0)
    expect(mounted("cp1")).toBe(false)
    expect(run("diff", "cp1").stdout).toMatch(/^A \/etc\/app\.conf$/m)
    expect(run("commit", "cp1", "busybox:cp").status).toBe(0)
    expect(run("cat", "busybox:cp", "/etc/app.conf").stdout).toBe("key=value\n")
  })

  it("symlinks in the container that point outside it resolve inside it", () => {
    const probe = `cairn-cp-probe-${process.pid}`
    const mnt = run("mount", "cp1").stdout.trim()
    symlinkSync(`/tmp/${probe}`, join(mnt, "abs-link")) // absolute: the host's /tmp if followed from the host
    symlinkSync("../../../../../..", join(mnt, "up")) // climbs above the root if followed from the host
    expect(run("umount", "cp1").status).toBe(0)
    writeFileSync(join(tmp, probe), "payload\n")
    expect(run("cp", probe, "cp1:/abs-link").status).toBe(0)
    expect(run("cp", probe, "cp1:/up/").status).toBe(0)
    expect(existsSync(`/tmp/${probe}`)).toBe(false)
    expect(existsSync(`/${probe}`)).toBe(false)
    const diff = run("diff", "cp1").stdout
    expect(diff).toMatch(new RegExp(`^A /tmp/${probe}$`, "m"))
    expect(diff).toMatch(new RegExp(`^A /${probe}$`, "m"))
  })
})
