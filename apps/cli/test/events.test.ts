// `cairn events` (#16) through the real binary: the events of other cairn processes over the root,
// followed as they happen, filtered, and a clean exit on SIGTERM.
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseWhen } from "../src/commands/events.js"
import { e2eSkipReason, makeBusyboxLayout } from "./fixtures.js"

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
const skip = !built ? "apps/cli is not built (npm test builds it first)" : e2eSkipReason()
if (skip) console.warn(`skipping cairn events tests: ${skip}`)

describe("parseWhen", () => {
  it("reads RFC 3339, Unix seconds and durations before now; refuses the rest", () => {
    expect(parseWhen("2026-12-04T10:00:00Z")).toBe(Date.parse("2026-12-04T10:00:00Z"))
    expect(parseWhen("1700000000")).toBe(1_700_000_000_000)
    expect(parseWhen("10m", 1_000_000)).toBe(1_000_000 - 600_000)
    expect(parseWhen("1.5h", 10_000_000)).toBe(10_000_000 - 5_400_000)
    expect(() => parseWhen("yesterday")).toThrow(/cannot read "yesterday" as a time/)
  })
})

describe.skipIf(skip !== undefined)("cairn events", () => {
  let tmp: string
  let root: string
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, "--root", root, "--progress", "none", ...args], { encoding: "utf8" })

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-events-"))
    root = join(tmp, "root")
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    expect(run("import", `oci:${layout}:busybox`, "busybox:1").status).toBe(0)
  })
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  it("follows what other processes do, in order, and exits 0 on SIGTERM without a warning", async () => {
    const follower = spawn(process.execPath, [bin, "--root", root, "events", "--format", "json"], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((resolve) => follower.on("exit", (code) => resolve(code)))
    let stdout = ""
    let stderr = ""
    follower.stderr.on("data", (c: Buffer) => {
      stderr += c.toString()
    })
    const waitFor = (re: RegExp) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!re.test(stdout)) return
          follower.stdout.off("data", onData)
          resolve()
        }
        const onData = (c: Buffer) => {
          stdout += c.toString()
          check()
        }
        follower.stdout.on("data", onData)
        check()
      })
    await waitFor(/"image\.imported"/) // the past is printed first; the follower is watching from here
    expect(run("tag", "busybox:1", "busybox:2").status).toBe(0)
    expect(run("create", "--name", "ev1", "busybox:1").status).toBe(0)
    expect(run("rm", "ev1").status).toBe(0)
    await waitFor(/"container\.removed"/)
    follower.kill("SIGTERM")
    expect(await exited).toBe(0)
    expect(stderr).toBe("")
    const types = stdout
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { type: string; name?: string; time: string }).type)
    expect(types).toEqual(["image.imported", "image.tagged", "container.created", "container.removed"])
  })

  it("--stream=false prints the past with filters and exits", () => {
    const r = run("events", "--stream=false", "--filter", "type=container")
    expect(r.status).toBe(0)
    expect(r.stdout.trim().split("\n")).toHaveLength(2)
    expect(r.stdout).toMatch(/container created [0-9a-f]{64} \(name=ev1\)/)
    const tagged = run("events", "--stream=false", "--since", "1h", "--filter", "event=tagged", "--format", "json")
    expect(JSON.parse(tagged.stdout)).toMatchObject({ type: "image.tagged", name: "busybox:2" })
    expect(run("events", "--stream=false", "--until", "1h").stdout).toBe("")
    const bad = run("events", "--filter", "colour=red")
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--filter colour=red/)
  })
})
