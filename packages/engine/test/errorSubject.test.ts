// An error names what the user gave (the archive), in the user's terms, not the engine root or an
// internal function name.
import { execFileSync } from "node:child_process"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, tempDir } from "./fixtures.js"

describe("errors name the user's input", () => {
  let dir: string
  let engine: Engine
  beforeAll(async () => {
    dir = tempDir()
    buildLayout(join(dir, "src"), "t", [{ files: { "a.txt": "a".repeat(50_000) } }])
    engine = await Engine.open({ root: join(dir, "root") })
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("a truncated oci-archive: the message names the archive and the import, not the root", async () => {
    const archive = join(dir, "whole.tar")
    execFileSync("tar", ["-C", join(dir, "src"), "-cf", archive, "."])
    const bytes = readFileSync(archive)
    const cut = join(dir, "cut.tar")
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)))
    const err = (await engine.importImage(`oci-archive:${cut}:t`).then(
      () => undefined,
      (e: unknown) => e
    )) as Error | undefined
    expect(err).toBeDefined()
    expect(err!.message).toContain(cut)
    expect(err!.message).not.toContain(join(dir, "root"))
    expect(err!.message).not.toContain("importImage")
    expect(await engine.listImages()).toEqual([])
  })
})
