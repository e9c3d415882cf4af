import { execFileSync } from "node:child_process"
import { chownSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildDist, dirs, haveTool, isRoot, isWhiteout, noLeak, tempRoot, writeTree, xattr } from "./fixtures.js"

// The rootless paths for real: the test body runs in a child process as uid 65534 (nobody),
// against the built package (a child cannot load TypeScript), so user namespaces, userxattr
// and the missing-privilege errors are the kernel's, not a simulation.
const NOBODY = 65534
const pkg = join(dirname(fileURLToPath(import.meta.url)), "..")
const canRun = isRoot && haveTool("setpriv") && haveTool("unshare")
if (!canRun) console.warn("[@cairn/mount] skipping unprivileged tests: they need root (to drop to nobody) and setpriv/unshare from util-linux")

const SCENARIO = `
import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { detect, mount } from ${JSON.stringify(join(pkg, "dist/index.js"))}
const root = process.argv[2]
const out = {}
const report = await detect()
out.uid = report.uid
out.verdicts = Object.fromEntries(report.drivers.map((d) => [d.driver, { usable: d.usable, reasons: d.reasons }]))
const spec = (c) => ({ lowers: [join(root, "top"), join(root, "base")], upper: join(root, c, "upper"), work: join(root, c, "work"), target: join(root, c, "merged") })
out.noPrivilege = await mount(spec("a"), { allow: ["kernel"] }).then(() => "mounted", (e) => ({ tag: e._tag, message: e.message }))
for (const [c, options] of [["a", {}], ["b", { driver: "copy" }]]) {
  const m = await mount(spec(c), options)
  const r = { driver: m.driver, path: m.path }
  r.os = readFileSync(join(m.path, "etc/os-release"), "utf8")
  writeFileSync(join(m.path, "etc/hosts"), "changed\\n")
  unlinkSync(join(m.path, "bin/sh"))
  rmSync(join(m.path, "var/cache"), { recursive: true })
  mkdirSync(join(m.path, "var/cache"))
  writeFileSync(join(m.path, "var/cache/new"), "n")
  await m.unmount()
  r.targetEmptyAfter = !existsSync(join(root, c, "merged/etc"))
  out[c] = r
}
console.log(JSON.stringify(out))
`

interface Verdict {
  readonly usable: boolean
  readonly reasons: ReadonlyArray<string>
}
interface Container {
  readonly driver: string
  readonly path: string
  readonly os: string
  readonly targetEmptyAfter: boolean
}
interface ScenarioResult {
  readonly uid: number
  readonly verdicts: Readonly<Record<"kernel" | "rootless" | "fuse" | "copy", Verdict>>
  readonly noPrivilege: { readonly tag: string; readonly message: string }
  readonly a: Container
  readonly b: Container
}

describe.skipIf(!canRun)("as an unprivileged user (uid 65534)", () => {
  let root = ""
  let cleanup = () => {}
  let result = {} as ScenarioResult
  beforeAll(async () => {
    buildDist()
    ;({ dir: root, cleanup } = tempRoot())
    writeTree(join(root, "base"), { "etc/os-release": "base\n", "etc/hosts": "127.0.0.1\n", "bin/sh": "#!sh\n", "var/cache/a": "a" })
    writeTree(join(root, "top"), { "etc/os-release": "top\n" })
    dirs(root, "a/upper", "a/work", "a/merged", "b/upper", "b/work", "b/merged")
    writeFileSync(join(root, "scenario.mjs"), SCENARIO)
    execFileSync("chown", ["-R", `${NOBODY}:${NOBODY}`, root])
    chownSync(root, NOBODY, NOBODY)
    result = await noLeak(async () =>
      JSON.parse(
        execFileSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--inh-caps=-all", process.execPath, join(root, "scenario.mjs"), root], {
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, TMPDIR: root },
          timeout: 120_000
        }).toString()
      )
    )
  })
  afterAll(() => cleanup())

  it("detect() rejects the kernel driver for lack of CAP_SYS_ADMIN and says so", () => {
    expect(result.uid).toBe(NOBODY)
    expect(result.verdicts.kernel.usable).toBe(false)
    expect(result.verdicts.kernel.reasons.join(" ")).toMatch(/lacks CAP_SYS_ADMIN/)
    expect(result.verdicts.copy.usable).toBe(true)
  })

  it("without privilege and without an allowed fallback fails with NoUsableDriverError", () => {
    expect(result.noPrivilege.tag).toBe("NoUsableDriverError")
    expect(result.noPrivilege.message).toMatch(/kernel: .*CAP_SYS_ADMIN/)
  })

  it("auto picks the rootless driver, which copies up, whiteouts and makes opaque dirs with user xattrs", () => {
    expect(result.verdicts.rootless.usable).toBe(true)
    expect(result.a.driver).toBe("rootless")
    expect(result.a.path).toMatch(/^\/proc\/\d+\/root\//)
    expect(result.a.os).toBe("top\n")
    expect(readFileSync(join(root, "a/upper/etc/hosts"), "utf8")).toBe("changed\n")
    expect(readFileSync(join(root, "base/etc/hosts"), "utf8")).toBe("127.0.0.1\n")
    expect(isWhiteout(join(root, "a/upper/bin/sh"))).toBe(true)
    expect(xattr(join(root, "a/upper/var/cache"), "overlay.opaque")).toBe("y")
    expect(() => execFileSync("getfattr", ["-n", "user.overlay.opaque", join(root, "a/upper/var/cache")], { stdio: "pipe" })).not.toThrow()
  })

  it("the copy driver writes the same changes back without any privilege", () => {
    expect(result.b.driver).toBe("copy")
    expect(result.b.os).toBe("top\n")
    expect(result.b.targetEmptyAfter).toBe(true)
    expect(readFileSync(join(root, "b/upper/etc/hosts"), "utf8")).toBe("changed\n")
    expect(isWhiteout(join(root, "b/upper/bin/sh"))).toBe(true)
    expect(xattr(join(root, "b/upper/var/cache"), "overlay.opaque")).toBe("y")
  })
})
