// `cairn images` listing options of #16 (REPO[:TAG], --filter dangling/reference, --no-trunc) through the real binary.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { e2eSkipReason, makeBusyboxLayout } from "./fixtures.js"

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
const skip = !built ? "apps/cli is not built (npm test builds it first)" : e2eSkipReason()
if (skip) console.warn(`skipping cairn listing tests: ${skip}`)

describe.skipIf(skip !== undefined)("cairn images filters", () => {
  let tmp: string
  let root: string
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, "--root", root, "--progress", "none", ...args], { encoding: "utf8" })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  const names = (...args: string[]) => {
    const r = run("images", "--json", ...args)
    expect(r.stderr).toBe("")
    return (JSON.parse(r.stdout) as { names: string[] }[]).flatMap((i) => (i.names.length ? i.names : ["<none>"])).sort()
  }

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-list-"))
    root = join(tmp, "root")
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    expect(run("import", `oci:${layout}:busybox`, "busybox:1").code).toBe(0)
    for (const t of ["busybox:2", "lib/app:v1", "myapp:v1"]) expect(run("tag", "busybox:1", t).code).toBe(0)
  })
  afterAll(() => {
    for (const c of ["m1", "u1"]) run("rm", "-f", c)
    rmSync(tmp, { recursive: true, force: true })
  })

  it("REPOSITORY[:TAG] and reference globs select names as docker does", () => {
    const all = names()
    expect(all.length).toBe(4)
    expect(names("busybox")).toEqual(all.filter((n) => n.includes("busybox")))
    expect(names("busybox:2")).toEqual(all.filter((n) => n.endsWith("busybox:2")))
    // * stays within a path segment: "*app" is not lib/app
    expect(names("--filter", "reference=*app")).toEqual(all.filter((n) => n.startsWith("myapp")))
    expect(names("--filter", "reference=lib/*")).toEqual(all.filter((n) => n.startsWith("lib/")))
    expect(names("--filter", "reference=*:v1")).toEqual(all.filter((n) => n.endsWith(":v1") && !n.includes("/")))
    expect(names("nothing-here")).toEqual([])
  })

  it("dangling=true lists unnamed images only, dangling=false the named ones; a bad filter exits 2", () => {
    expect(names("--filter", "dangling=true")).toEqual([])
    expect(names("--filter", "dangling=false").length).toBe(4)
    const bad = run("images", "--filter", "colour=red")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('bad --filter "colour=red"')
    expect(run("images", "--filter", "dangling=maybe").code).toBe(2)
  })

  it("--no-trunc shows full IDs, -q short ones", () => {
    const digest = (JSON.parse(run("images", "--json").stdout) as { digest: string }[])[0]!.digest
    expect(run("images", "--no-trunc").stdout).toContain(digest)
    expect(run("images", "-q").stdout.trim()).toBe(digest.slice(7, 19))
    expect(run("images", "-q", "--no-trunc").stdout.trim()).toBe(digest)
  })

  it("ps lists every container; --filter status=/ancestor= narrow it; -a changes nothing; --no-trunc full IDs", () => {
    expect(run("create", "--name", "m1", "myapp:v1").code).toBe(0)
    expect(run("create", "--name", "u1", "lib/app:v1").code).toBe(0)
    expect(run("mount", "m1").code).toBe(0)
    try {
      const ps = (...args: string[]) => (JSON.parse(run("ps", "--json", ...args).stdout) as { name: string; id: string }[]).map((c) => c.name).sort()
      expect(ps()).toEqual(["m1", "u1"])
      expect(ps("-a")).toEqual(["m1", "u1"])
      expect(ps("--filter", "status=mounted")).toEqual(["m1"])
      expect(ps("--filter", "status=unmounted")).toEqual(["u1"])
      expect(ps("--filter", "ancestor=lib/*")).toEqual(["u1"])
      expect(ps("--filter", "ancestor=myapp", "--filter", "status=unmounted")).toEqual([])
      const full = (JSON.parse(run("ps", "--json").stdout) as { id: string }[]).map((c) => c.id).sort()
      expect(run("ps", "-q", "--no-trunc").stdout.trim().split("\n").sort()).toEqual(full)
      expect(run("ps", "--filter", "status=running").code).toBe(2)
    } finally {
      run("umount", "m1")
    }
  })

  it("before=/since=IMAGE select by creation time; an unknown IMAGE exits 2 naming it", () => {
    expect(run("create", "--name", "c1", "busybox:1").code).toBe(0)
    try {
      expect(run("commit", "c1", "later:1").code).toBe(0)
    } finally {
      run("rm", "-f", "c1")
    }
    const digestOf = (n: string) => (JSON.parse(run("images", "--json", n).stdout) as { digest: string }[])[0]!.digest
    const ids = (...args: string[]) => (JSON.parse(run("images", "--json", ...args).stdout) as { digest: string }[]).map((i) => i.digest)
    expect(ids("--filter", "before=later:1")).toEqual([digestOf("busybox:1")])
    expect(ids("--filter", "since=busybox:1")).toEqual([digestOf("later:1")])
    expect(ids("--filter", `since=${digestOf("busybox:1").slice(7, 19)}`)).toEqual([digestOf("later:1")])
    const bad = run("images", "--filter", "before=nope:9")
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('no image "nope:9"')
  })
})
