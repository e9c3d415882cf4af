// --format (#16): the template module, and `images`/`ps` through the real binary.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { formatRows } from "../src/format.js"
import { e2eSkipReason, makeBusyboxLayout } from "./fixtures.js"

describe("formatRows", () => {
  const fields = ["ID", "Repository", "Tag", "CreatedAt"]
  const rows = [
    { ID: "abc", Repository: "busybox", Tag: "1", CreatedAt: "2026-01-01T00:00:00Z" },
    { ID: "defabc", Repository: "lib/app", Tag: "v22", CreatedAt: "2026-01-02T00:00:00Z" }
  ]
  it("fills fields, turns \\t and \\n into tabs and newlines, and prints json", () => {
    expect(formatRows("{{.ID}}\\t{{.Repository}}:{{.Tag}}", fields, rows, "images")).toBe("abc\tbusybox:1\ndefabc\tlib/app:v22\n")
    expect(formatRows("{{ .Tag }}\\n--", fields, rows.slice(0, 1), "images")).toBe("1\n--\n")
    expect(formatRows("{{json .Tag}} {{json .}}", fields, rows.slice(0, 1), "images")).toBe(`"1" ${JSON.stringify(rows[0])}\n`)
    expect(formatRows("json", fields, rows, "images").trim().split("\n").map((l) => JSON.parse(l))).toEqual(rows)
  })
  it("table: a header from the field names and aligned columns", () => {
    expect(formatRows("table {{.Repository}}\\t{{.CreatedAt}}", fields, rows, "images")).toBe(
      "REPOSITORY  CREATED AT\nbusybox     2026-01-01T00:00:00Z\nlib/app     2026-01-02T00:00:00Z\n"
    )
    expect(formatRows("table", fields, rows.slice(0, 1), "images").split("\n")[0]).toBe("ID   REPOSITORY  TAG  CREATED AT")
  })
  it("refuses an unknown field naming the valid ones, and an action it cannot read", () => {
    expect(() => formatRows("{{.Colour}}", fields, rows, "images")).toThrow(/no field "Colour" in images's rows; the fields are \.ID, \.Repository, \.Tag, \.CreatedAt/)
    expect(() => formatRows("{{range .}}", fields, rows, "images")).toThrow(/cannot read \{\{range \.\}\}/)
  })
})

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
const skip = !built ? "apps/cli is not built (npm test builds it first)" : e2eSkipReason()
if (skip) console.warn(`skipping cairn --format binary tests: ${skip}`)

describe.skipIf(skip !== undefined)("cairn images/ps --format", () => {
  let tmp: string
  let root: string
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, "--root", root, "--progress", "none", ...args], { encoding: "utf8" })
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-format-"))
    root = join(tmp, "root")
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    expect(run("import", `oci:${layout}:busybox`, "busybox:1").status).toBe(0)
    expect(run("tag", "busybox:1", "lib/app:v2").status).toBe(0)
    expect(run("create", "--name", "fmt1", "busybox:1").status).toBe(0)
  })
  afterAll(() => {
    run("rm", "-f", "fmt1")
    rmSync(tmp, { recursive: true, force: true })
  })

  it("images: one line per name in the template; table; json; a bad field exits 2", () => {
    const id = run("images", "-q").stdout.trim()
    expect(run("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n").sort()).toEqual(["", `busybox:1 ${id}`, `lib/app:v2 ${id}`])
    const t = run("images", "--format", "table {{.Repository}}\\t{{.Tag}}").stdout.split("\n")
    expect(t[0]).toMatch(/^REPOSITORY\s+TAG$/)
    expect(t).toHaveLength(4)
    const j = run("images", "--format", "json").stdout.trim().split("\n").map((l) => JSON.parse(l) as { Digest: string })
    expect(j.every((r) => r.Digest.startsWith("sha256:") && r.Digest.slice(7, 19) === id)).toBe(true)
    const bad = run("images", "--format", "{{.Nope}}")
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/no field "Nope"/)
  })

  it("ps: fields of the container rows", () => {
    const r = run("ps", "--format", "{{.Names}} {{.Image}} {{json .Mounted}}")
    expect(r.status).toBe(0)
    expect(r.stdout).toBe("fmt1 busybox:1 false\n")
  })
})
