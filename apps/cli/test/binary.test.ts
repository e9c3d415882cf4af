// Issue #16's bugs, through the real `cairn` binary as a user runs it (TTY cases under script(1)).
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { busyboxWorkspace, e2eSkipReason, have } from "./fixtures.js"

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
const skip = !built ? "apps/cli is not built (npm test builds it first)" : e2eSkipReason()
if (skip) console.warn(`skipping cairn binary tests: ${skip}`)

describe.skipIf(!built)("the cairn launcher", () => {
  const head = (file: string) => readFileSync(file, "utf8").split("\n").slice(0, 2)
  // a preload of the launched process reports the flags node was started with
  const reportFlags = { ...process.env, NODE_OPTIONS: `--import "data:text/javascript,process.stderr.write(JSON.stringify(process.execArgv))"` }

  it("runs node under its V8 flags when executed as a program, as npm's bin link runs it", () => {
    expect(head(bin)).toEqual(["#!/bin/sh", `':' //; exec node --initial-old-space-size=64 "$0" "$@"`])
    const r = spawnSync(bin, ["--version"], { encoding: "utf8", env: reportFlags })
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^cairn \d+\.\d+\.\d+/)
    expect(JSON.parse(r.stderr)).toEqual(["--initial-old-space-size=64"])
    // the service's launcher starts the same way
    expect(head(join(import.meta.dirname, "../../api/bin/cairn-api.js"))).toEqual(head(bin))
  })

  it("starts under busybox's sh (Alpine's /bin/sh, whose env has no -S), and as a plain script of node", (ctx) => {
    if (!have("busybox")) return ctx.skip("busybox is not installed (Debian package busybox-static)")
    const bb = spawnSync("busybox", ["sh", bin, "--version"], { encoding: "utf8", env: reportFlags })
    expect(bb.status).toBe(0)
    expect(JSON.parse(bb.stderr)).toEqual(["--initial-old-space-size=64"])
    const plain = spawnSync(process.execPath, [bin, "--version"], { encoding: "utf8" })
    expect(plain.status).toBe(0)
    expect(plain.stdout).toMatch(/^cairn \d+\.\d+\.\d+/)
  })
})

describe.skipIf(!built)("what a command loads (start-up, issue 13)", () => {
  // a resolve hook in the launched process records every module it loads
  const loads = (args: string[]): string[] => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-loads-"))
    try {
      const trace = join(dir, "trace")
      const hook = `import{appendFileSync}from"node:fs";export async function resolve(s,c,n){const r=await n(s,c);appendFileSync(${JSON.stringify(trace)},r.url+"\\n");return r}`
      const pre = `import{register}from"node:module";register("data:text/javascript,"+encodeURIComponent(${JSON.stringify(hook)}))`
      const r = spawnSync(bin, ["--root", join(dir, "root"), ...args], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: `--import data:text/javascript,${encodeURIComponent(pre)}` } })
      expect(r.status, r.stderr).toBe(0)
      return readFileSync(trace, "utf8").split("\n").filter((u) => u !== "")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const effect = (urls: string[], module: string) => urls.filter((u) => u.endsWith(`/effect/dist/${module}.js`))

  it("--help loads no effect; ps and images of an empty root load effect but not its Schema (the document schemas load at the first decode)", () => {
    expect(loads(["--help"]).filter((u) => u.includes("/effect/dist/"))).toEqual([])
    for (const command of ["ps", "images"]) {
      const urls = loads([command])
      expect(effect(urls, "Effect"), command).not.toEqual([])
      expect(effect(urls, "Schema"), command).toEqual([])
    }
  })
})

describe.skipIf(skip !== undefined)("cairn as a binary (#16)", () => {
  let tmp: string
  let root: string
  let layout: string
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, "--root", root, ...args], { encoding: "utf8" })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }

  let cleanup: () => void
  beforeAll(() => {
    ;({ tmp, root, layout, cleanup } = busyboxWorkspace("cairn-bin-"))
  })
  afterAll(() => cleanup())

  it("-q prints the ids, one per line", () => {
    const imp = run("-q", "import", `oci:${layout}:busybox`, "busybox")
    expect(imp.code).toBe(0)
    expect(imp.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/)
    const digest = imp.stdout.trim()
    expect(run("images", "-q").stdout).toBe(`${digest.slice(7, 19)}\n`)
    const created = run("create", "-q", "--name", "q1", "busybox")
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/)
    expect(run("ps", "-q").stdout).toBe(`${created.stdout.slice(0, 12)}\n`)
    const committed = run("commit", "-q", "q1", "busybox:q")
    expect(committed.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/)
    expect(run("rm", "q1").code).toBe(0)
    expect(run("rmi", "busybox:q").code).toBe(0)
  })

  it("mounting twice prints the same path again, as podman does", () => {
    const id = run("create", "-q", "busybox").stdout.trim()
    const first = run("mount", id)
    expect(first.code).toBe(0)
    const again = run("mount", id)
    expect(again.stderr).toBe("")
    expect(again.code).toBe(0)
    expect(again.stdout).toBe(first.stdout)
    expect(run("umount", id).code).toBe(0)
    expect(run("rm", id).code).toBe(0)
  })

  it("names the right thing when something is wrong", () => {
    const file = join(tmp, "a-file")
    writeFileSync(file, "")
    const fileRoot = spawnSync(process.execPath, [bin, "--root", file, "images"], { encoding: "utf8" })
    expect(fileRoot.status).toBe(1)
    expect(fileRoot.stderr).toContain(`root ${file} is not a directory`)
    expect(fileRoot.stderr).not.toMatch(/EEXIST|mkdir/)

    const driver = run("--driver", "bogus", "ps")
    expect(driver.code).toBe(2)
    expect(driver.stderr).toMatch(/unknown --driver "bogus": one of auto, overlay, kernel, rootless, fuse-overlayfs, fuse, copy/)

    const digest = JSON.parse(run("images", "--json").stdout)[0].digest as string
    const short = run("inspect", digest.slice(7, 11))
    expect(short.code).toBe(1)
    expect(short.stderr).toMatch(/prefix too short or ambiguous/)
    expect(run("inspect", "0000").stderr).toMatch(/no image "0000" in this root/)

    const full = join(tmp, "not-empty")
    mkdirSync(full)
    writeFileSync(join(full, "x"), "")
    const unpack = run("unpack", "busybox", full)
    expect(unpack.code).toBe(1)
    expect(unpack.stderr).toMatch(/cannot unpack into .*not-empty: the target directory is not empty/)
    expect(unpack.stderr).not.toMatch(/import/)
  })

  it("rmi prints each deleted digest once", () => {
    expect(run("tag", "busybox", "gone:1").code).toBe(0)
    expect(run("import", `oci:${layout}:busybox`, "other:1").code).toBe(0)
    const digest = JSON.parse(run("images", "--json").stdout)[0].digest as string
    run("rmi", "busybox")
    run("rmi", "other:1")
    const r = run("rmi", "gone:1")
    expect(r.code).toBe(0)
    const deleted = r.stdout.split("\n").filter((l) => l.startsWith("Deleted: "))
    expect(deleted).toContain(`Deleted: ${digest}`)
    expect(new Set(deleted).size).toBe(deleted.length)
    expect(run("import", `oci:${layout}:busybox`, "busybox").code).toBe(0)
  })

  it("copy docker-archive:FILE local:NAME names the image NAME only", () => {
    const tar = join(tmp, "bb.tar")
    expect(run("export", "busybox", `docker-archive:${tar}:archived/bb:7`).code).toBe(0)
    const other = join(tmp, "root-copy")
    const c = spawnSync(process.execPath, [bin, "--root", other, "--progress", "none", "copy", `docker-archive:${tar}`, "local:mine:1"], { encoding: "utf8" })
    expect(c.stderr).toBe("")
    expect(c.status).toBe(0)
    const list = JSON.parse(spawnSync(process.execPath, [bin, "--root", other, "images", "--json"], { encoding: "utf8" }).stdout) as { names: string[] }[]
    expect(list.flatMap((i) => i.names)).toEqual(["mine:1"])
  })

  it("info, fsck and analyze print tables, and JSON with --json", () => {
    const info = run("info")
    expect(info.stdout).toMatch(/^Root: +\S+/m)
    expect(info.stdout).toMatch(/^DRIVER +USABLE +WHY$/m)
    expect(JSON.parse(run("info", "--json").stdout)).toMatchObject({ drivers: expect.any(Array) })
    const fsck = run("fsck")
    expect(fsck.code).toBe(0)
    expect(fsck.stdout.trimEnd().split("\n").at(-1)).toBe("ok: no problems found")
    expect(JSON.parse(run("fsck", "--json").stdout)).toMatchObject({ ok: true })
    const analyze = run("analyze", "busybox")
    expect(analyze.stdout).toMatch(/^LAYER +SIZE +FILES +ADDED +MODIFIED +DELETED +WASTED +CREATED BY$/m)
    expect(analyze.stdout).toMatch(/of file bytes are wasted/)
    expect(JSON.parse(run("analyze", "--json", "busybox").stdout)).toHaveLength(1)
  })

  it("stops quietly when the reader of stdout goes away (cat | head)", () => {
    const r = spawnSync("bash", ["-c", `"$0" "$1" --root "$2" cat busybox /bin/busybox 2>"$3" | head -c 4 >/dev/null; echo "\${PIPESTATUS[0]}"`, process.execPath, bin, root, join(tmp, "err")], {
      encoding: "utf8"
    })
    expect(readFileSync(join(tmp, "err"), "utf8")).toBe("")
    expect(r.stdout.trim()).toBe("0")
  })

  it("prints plain progress, a line per blob state change, when stdout is not a TTY; none with --progress none", () => {
    const r2 = join(tmp, "root-plain")
    const plain = spawnSync(process.execPath, [bin, "--root", r2, "import", `oci:${layout}:busybox`, "p:1"], { encoding: "utf8" })
    expect(plain.status).toBe(0)
    const lines = plain.stderr.trimEnd().split("\n")
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const l of lines) expect(l).toMatch(/^[0-9a-f]{12}: (store|extract|store done|extract done|done) \d+(\.\d+)?[kMG]?B( \(\d+(\.\d+)?[kMG]?B\/s\))?$/)
    const none = spawnSync(process.execPath, [bin, "--root", join(tmp, "root-none"), "--progress", "none", "import", `oci:${layout}:busybox`, "p:1"], { encoding: "utf8" })
    expect(none.stderr).toBe("")
    const json = spawnSync(process.execPath, [bin, "--root", join(tmp, "root-json"), "--progress", "json", "import", `oci:${layout}:busybox`, "p:1"], { encoding: "utf8" })
    for (const l of json.stderr.trimEnd().split("\n")) expect(JSON.parse(l)).toMatchObject({ digest: expect.stringMatching(/^sha256:/), done: expect.any(Boolean) })
    expect(spawnSync(process.execPath, [bin, "--progress", "fancy", "images"], { encoding: "utf8" }).status).toBe(2)
  })

  it.skipIf(!have("script"))("draws bars with rounded rates on a TTY (under script)", () => {
    const r3 = join(tmp, "root-tty")
    const cmd = [process.execPath, bin, "--root", r3, "import", `oci:${layout}:busybox`, "t:1"].map((a) => `'${a}'`).join(" ")
    const res = spawnSync("script", ["-qec", `stty cols 160; ${cmd}`, "/dev/null"], { encoding: "utf8" })
    expect(res.status).toBe(0)
    const screen = res.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")
    expect(screen).toMatch(/[0-9a-f]{12}: done +\[=+>\] \S+ \d+(\.\d+)?[kMG]?B\/s/)
    // a rate has at most three significant digits: no 146.9507714915503B/s
    expect(screen).not.toMatch(/\d+\.\d{3,}/)
  })

  it("refuses a pulled single-platform image of another platform, naming both", async () => {
    const child: ChildProcess = spawn(process.execPath, [bin, "--root", root, "serve", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] })
    try {
      let out = ""
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout!.on("data", (c) => {
          out += c
          const m = /listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(out)
          if (m) resolve(m[1]!)
        })
        child.on("exit", (code) => reject(new Error(`cairn serve exited ${code}: ${out}`)))
      })
      const other = join(tmp, "root-pull")
      const pull = (...args: string[]) => spawnSync(process.execPath, [bin, "--root", other, "--progress", "none", "pull", ...args], { encoding: "utf8" })
      const wrong = pull("--platform", "linux/arm64", `${url}/busybox:latest`, "wrong:1")
      expect(wrong.status).toBe(1)
      expect(wrong.stderr).toMatch(/linux\/amd64/)
      expect(wrong.stderr).toMatch(/linux\/arm64/)
      expect(wrong.stderr).toMatch(/^cairn pull: image \S+busybox:latest: it is for linux\/amd64, not the platform asked for \(linux\/arm64\)\n$/)
      const list = spawnSync(process.execPath, [bin, "--root", other, "images", "--json"], { encoding: "utf8" })
      expect(JSON.parse(list.stdout)).toEqual([])
      const right = pull("-q", "--platform", "linux/amd64", `${url}/busybox:latest`, "right:1")
      expect(right.stderr).toBe("")
      expect(right.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/)
    } finally {
      const exited = new Promise((resolve) => child.on("exit", resolve))
      child.kill("SIGTERM")
      await exited
    }
  })
})
