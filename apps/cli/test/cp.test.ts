// `cairn cp` (#16) through the real binary: out of an image and a container (to a path and as a
// tar), into a container (diff shows it, commit keeps it), symlinks in the container that point
// outside it stay inside, and a container not mounted before is not mounted after.
import { spawnSync } from "node:child_process"
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tarStream from "tar-stream"
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

  it("unpacks a tar from stdin into a directory of the container, owners and modes kept; a hostile tar lands nowhere", async () => {
    mkdirSync(join(tmp, "site", "css"), { recursive: true })
    writeFileSync(join(tmp, "site", "index.html"), "<h1>hi</h1>\n")
    writeFileSync(join(tmp, "site", "css", "a.css"), "body{}\n")
    const archive = spawnSync("tar", ["-C", join(tmp, "site"), "--owner=1234", "--group=1234", "--mode=go-rwx", "-c", "."]).stdout
    const r = spawnSync(process.execPath, [bin, "--root", root, "cp", "-", "cp1:/etc"], { input: archive, encoding: "utf8" })
    expect(r.status, r.stderr).toBe(0)
    expect(mounted("cp1")).toBe(false)
    expect(run("diff", "cp1").stdout).toMatch(/^A \/etc\/css\/a\.css$/m)
    const mnt = run("mount", "cp1").stdout.trim()
    const st = statSync(join(mnt, "etc", "index.html"))
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1234, 1234, 0o600])
    expect(readFileSync(join(mnt, "etc", "css", "a.css"), "utf8")).toBe("body{}\n")
    expect(run("umount", "cp1").status).toBe(0)
    // not a directory, and not a tar: refused, with what to fix
    const onFile = spawnSync(process.execPath, [bin, "--root", root, "cp", "-", "cp1:/etc/motd"], { input: archive, encoding: "utf8" })
    expect(onFile.status).toBe(1)
    expect(onFile.stderr).toMatch(/\/etc\/motd in cp1 is not a directory/)
    const garbage = spawnSync(process.execPath, [bin, "--root", root, "cp", "-", "cp1:/etc"], { input: "not a tar at all\n".repeat(100), encoding: "utf8" })
    expect(garbage.status).toBe(1)
    expect(garbage.stderr).toMatch(/cp a tar from stdin failed: .*tar/)
    // hostile: a member climbing out with .., and a link to the host followed by a file through it
    const probe = `cairn-cp-tar-${process.pid}`
    mkdirSync(join(tmp, probe))
    const pack = tarStream.pack()
    pack.entry({ name: "ok.txt" }, "fine\n")
    pack.entry({ name: "../../../../../../../tmp/escaped.txt" }, "out\n")
    pack.entry({ name: "hostlink", type: "symlink", linkname: join(tmp, probe) })
    pack.entry({ name: "hostlink/planted.txt" }, "planted\n")
    pack.finalize()
    const chunks: Buffer[] = []
    for await (const c of pack) chunks.push(c as Buffer)
    const before = run("diff", "cp1").stdout
    const hostile = spawnSync(process.execPath, [bin, "--root", root, "cp", "-", "cp1:/etc"], { input: Buffer.concat(chunks), encoding: "utf8" })
    expect(hostile.status).toBe(1)
    expect(readdirSync(join(tmp, probe))).toEqual([])
    expect(existsSync("/tmp/escaped.txt")).toBe(false)
    // all or nothing: not even its harmless member reached the container
    expect(run("diff", "cp1").stdout).toBe(before)
    expect(readdirSync(join(root, "containers", run("ps", "-q", "--no-trunc", "--filter", "name=cp1").stdout.trim())).filter((e) => e.startsWith(".cp-in-"))).toEqual([])
  })

  it("follows a symlinked parent directory inside the tree (/bin -> usr/bin), not the host's, and copies a final link as a link", () => {
    expect(run("create", "--name", "cp2", "busybox:1").status).toBe(0)
    try {
      const mnt = run("mount", "cp2").stdout.trim()
      mkdirSync(join(mnt, "usr", "lib"), { recursive: true })
      writeFileSync(join(mnt, "usr", "lib", "os-release"), "ID=fixture\n")
      symlinkSync("usr/lib", join(mnt, "lib")) // relative, as merged-/usr distributions have it
      symlinkSync("/etc", join(mnt, "abs-etc")) // absolute: the container's /etc, not the host's
      symlinkSync("os-release", join(mnt, "usr", "lib", "release-link"))
      expect(run("umount", "cp2").status).toBe(0)
      expect(run("commit", "cp2", "busybox:links").status).toBe(0)
      for (const from of ["cp2", "busybox:links"]) {
        const out = join(tmp, `os-${from.replace(":", "-")}`)
        const r = run("cp", `${from}:/lib/os-release`, out)
        expect(r.status, r.stderr).toBe(0)
        expect(readFileSync(out, "utf8")).toBe("ID=fixture\n")
        const motd = join(tmp, `motd-${from.replace(":", "-")}`)
        expect(run("cp", `${from}:/abs-etc/motd`, motd).status).toBe(0)
        expect(readFileSync(motd, "utf8")).toBe("welcome to the fixture\n")
        const link = join(tmp, `link-${from.replace(":", "-")}`)
        expect(run("cp", `${from}:/lib/release-link`, link).status).toBe(0)
        expect(readlinkSync(link)).toBe("os-release")
      }
      const missing = run("cp", "cp2:/lib/nope", "x2")
      expect(missing.status).toBe(1)
      expect(missing.stderr).toMatch(/\/lib\/nope: no such file or directory in cp2/)
    } finally {
      run("rm", "-f", "cp2")
    }
  })
})
