import { describe, expect, it } from "vitest"
import { commands } from "../src/index.js"
import { cairn } from "./run.js"

describe("cairn usage", () => {
  it("lists every command in --help and exits 0", async () => {
    const r = await cairn("--help")
    expect(r.code).toBe(0)
    for (const c of commands) expect(r.stdout).toContain(`  ${c.name} `)
    expect(r.stdout).toContain("--root DIR")
  })

  it("exits 2 with usage when no command is given", async () => {
    const r = await cairn()
    expect(r.code).toBe(2)
    expect(r.stdout).toContain("Usage: cairn")
  })

  it("exits 2 naming an unknown command", async () => {
    const r = await cairn("imagez")
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/unknown command "imagez"/)
  })

  it("exits 2 on a wrong argument count, saying what was expected", async () => {
    const r = await cairn("unpack", "only-one")
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/cairn unpack: expected 2 arguments \(IMAGE DIR\), got 1/)
    expect(r.stderr).toMatch(/cairn unpack --help/)
  })

  it("exits 2 on an unknown option", async () => {
    const r = await cairn("images", "--bogus")
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/bogus/)
  })

  it("shows a command's options and examples with COMMAND --help, also after global options", async () => {
    const r = await cairn("--root", "/nonexistent", "commit", "--help")
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Usage: cairn commit \[OPTIONS\] CONTAINER \[NAME\]/)
    expect(r.stdout).toMatch(/-m, --message TEXT/)
    expect(r.stdout).toMatch(/Examples:/)
  })

  it("every command has a summary and at least one example", () => {
    for (const c of commands) {
      expect(c.summary.length, c.name).toBeGreaterThan(10)
      expect(c.examples.length, c.name).toBeGreaterThan(0)
    }
  })

  it("prints the version, as JSON with --json", async () => {
    const r = await cairn("--version")
    expect(r.stdout).toMatch(/^cairn \d+\.\d+\.\d+ \(node v\d+/)
    const j = await cairn("--json", "--version")
    expect(JSON.parse(j.stdout)).toMatchObject({ version: expect.any(String) })
  })
})
