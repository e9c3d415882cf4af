// Issue #16 bug 3: with --driver copy the writes land in merged/; each cairn command is its own
// process, so umount/diff/commit must record them into the container's upper from merged/.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { e2eSkipReason, makeBusyboxLayout } from "./fixtures.js"

const skip = e2eSkipReason()
if (skip) console.warn(`skipping copy driver CLI tests: ${skip}`)

const bin = join(import.meta.dirname, "..", "bin", "cairn.js")

describe.skipIf(skip !== undefined)("cairn --driver copy through the real binary", () => {
  let tmp: string
  let root: string
  const cairn = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, "--root", root, "--progress", "none", "--driver", "copy", ...args], { encoding: "utf8" })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  const ok = (...args: string[]) => {
    const r = cairn(...args)
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    return r.stdout.trim()
  }

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-copy-"))
    root = join(tmp, "root")
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    ok("import", `oci:${layout}:busybox`, "busybox")
  })
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  it("records writes, changes and deletions at diff, commit and umount, and shows them at the next mount", () => {
    const id = ok("create", "busybox")
    const m = ok("mount", id)
    expect(readFileSync(join(m, "etc/motd"), "utf8")).toBe("welcome to the fixture\n")
    writeFileSync(join(m, "etc/new"), "added\n")
    writeFileSync(join(m, "etc/motd"), "changed\n")
    rmSync(join(m, "etc/group"))
    rmSync(join(m, "bin"), { recursive: true })
    mkdirSync(join(m, "bin"))
    writeFileSync(join(m, "bin/only"), "x")

    const expected = ["C /bin", "A /bin/only", "C /etc", "D /etc/group", "C /etc/motd", "A /etc/new"]
    expect(ok("diff", id).split("\n")).toEqual(expected)

    const image = ok("commit", id, "copied:v1")
    expect(image).toMatch(/^sha256:[0-9a-f]{64}$/)
    // the committed layer: the top layer of the new image, read back by cairn's own layer listing
    const inspected = JSON.parse(ok("inspect", "copied:v1")) as { manifest?: { layers: { digest: string }[] } }
    const layers = inspected.manifest?.layers ?? []
    const top = layers[layers.length - 1]!.digest.replace("sha256:", "")
    const entries = execFileSync("tar", ["tzf", join(root, "blobs/sha256", top)], { encoding: "utf8" }).trim().split("\n")
    expect(entries).toEqual(expect.arrayContaining(["etc/.wh.group", "etc/new", "etc/motd", "bin/.wh..wh..opq", "bin/only"]))
    expect(entries.some((e) => e.startsWith("bin/busybox"))).toBe(false)

    ok("umount", id)
    expect(existsSync(join(m, "etc"))).toBe(false)
    expect(ok("diff", id).split("\n")).toEqual(expected)

    const again = ok("mount", id)
    expect(readFileSync(join(again, "etc/new"), "utf8")).toBe("added\n")
    expect(readFileSync(join(again, "etc/motd"), "utf8")).toBe("changed\n")
    expect(existsSync(join(again, "etc/group"))).toBe(false)
    expect(existsSync(join(again, "bin/busybox"))).toBe(false)
    ok("umount", id)
    ok("rm", id)
  })

  it("shows no change for an untouched copy of an image whose layer has whiteouts", () => {
    const id = ok("create", "copied:v1")
    const m = ok("mount", id)
    expect(existsSync(join(m, "etc/group"))).toBe(false)
    expect(ok("diff", id)).toBe("")
    ok("umount", id)
    expect(ok("diff", id)).toBe("")
    ok("rm", id)
  })
})
