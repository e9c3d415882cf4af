import { open } from "node:fs/promises"
import { Writable } from "node:stream"
import { EngineIOError } from "@cairn/engine"
import { describe, expect, it } from "vitest"
import { makeOutput } from "../src/output.js"
import { humanRate, ProgressBars } from "../src/progress.js"

const sink = () => {
  let text = ""
  const stream = new Writable({
    write(c, _e, cb) {
      text += String(c)
      cb()
    }
  })
  return { stream, text: () => text }
}

describe("progress display", () => {
  it("formats rates with at most three significant digits", () => {
    expect(humanRate(146.9507714915503)).toBe("147B/s")
    expect(humanRate(12_345_678)).toBe("12.3MB/s")
  })

  it("freezes a blob's rate when its bytes reach the total", () => {
    const out = sink()
    let t = 0
    const bars = new ProgressBars(makeOutput({ json: false, quiet: false, out: out.stream, err: out.stream }), "tty", () => t)
    bars.update({ kind: "blob", phase: "download", digest: "sha256:aaaaaaaaaaaa", bytes: 0, total: 2_000_000 })
    t = 1000
    bars.update({ kind: "blob", phase: "download", digest: "sha256:aaaaaaaaaaaa", bytes: 2_000_000, total: 2_000_000 })
    t = 60_000
    bars.update({ kind: "blob", phase: "download", digest: "sha256:bbbbbbbbbbbb", bytes: 0, total: 10 })
    const last = out.text().split("\n").filter((l) => l.includes("aaaaaaaaaaaa")).at(-1)
    expect(last).toMatch(/aaaaaaaaaaaa: done .* 2\.00MB\/s$/)
  })

  it("prints one plain line per state change, the config blob included", () => {
    const err = sink()
    const bars = new ProgressBars(makeOutput({ json: false, quiet: false, out: sink().stream, err: err.stream }), "plain", () => 0)
    for (const bytes of [0, 10, 20, 30]) bars.update({ kind: "blob", phase: "download", digest: "sha256:cccccccccccc", bytes, total: 30 })
    bars.update({ kind: "blob", phase: "upload", digest: "sha256:dddddddddddd", bytes: 5, total: 5 })
    expect(err.text()).toBe("cccccccccccc: download 30B\ncccccccccccc: download done 30B (30.0kB/s)\ndddddddddddd: upload done 5B (5.00kB/s)\n")
  })
})

describe("engine I/O messages", () => {
  it("say the error code once", async () => {
    const cause = await open("/nonexistent/cairn").catch((e: unknown) => e)
    const msg = new EngineIOError({ operation: "import image in root", path: "/r", cause }).message
    expect(msg).toBe("import image in root /r failed: ENOENT: no such file or directory, open '/nonexistent/cairn'")
  })
})
