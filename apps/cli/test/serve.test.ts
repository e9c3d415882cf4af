import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
if (!built) console.warn("skipping cairn serve test: apps/cli is not built (npm test builds it first)")

describe.skipIf(!built)("cairn serve", () => {
  const root = mkdtempSync(join(tmpdir(), "cairn-serve-"))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it("serves the registry API over the root and stops cleanly on SIGTERM", async () => {
    const child = spawn(process.execPath, [bin, "--root", root, "serve", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (c) => {
        out += c
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
        if (m) resolve(m[1]!)
      })
      child.on("exit", (code) => reject(new Error(`cairn serve exited ${code}: ${out}`)))
    })
    const v2 = await fetch(`${url}/v2/`)
    expect(v2.status).toBe(200)
    expect(v2.headers.get("docker-distribution-api-version")).toBe("registry/2.0")
    const images = await fetch(`${url}/images`)
    expect(await images.json()).toEqual([])
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve))
    child.kill("SIGTERM")
    expect(await exited).toBe(0)
  })
})
