// POST /build: a tar of the build context in, an image (and the build's log) out.
import { execFileSync } from "node:child_process"
import { copyFile, mkdir, rm, symlink, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type EngineServer, exec, startEngineServer } from "./engineFixture.js"
import { tempDir } from "./fixtures.js"

const have = (t: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}
const why = process.getuid?.() !== 0 ? "it needs root" : !have("crun") ? "crun is missing" : !have("umoci") ? "umoci is missing" : undefined
if (why !== undefined) console.warn(`skipping POST /build: ${why}`)

describe.skipIf(why !== undefined)("POST /build", () => {
  let srv: EngineServer
  let work: string
  beforeAll(async () => {
    work = await tempDir()
    const layout = join(work, "layout")
    const bundle = join(work, "bundle")
    await exec("umoci", ["init", "--layout", layout])
    await exec("umoci", ["new", "--image", `${layout}:latest`])
    await exec("umoci", ["unpack", "--image", `${layout}:latest`, bundle])
    await mkdir(join(bundle, "rootfs", "bin"), { recursive: true })
    await copyFile("/bin/busybox", join(bundle, "rootfs", "bin", "busybox"))
    for (const t of ["sh", "cat"]) await symlink("busybox", join(bundle, "rootfs", "bin", t))
    await exec("umoci", ["repack", "--image", `${layout}:latest`, bundle])
    srv = await startEngineServer()
    await srv.engine.importImage(`oci:${layout}:latest`, "busybox")
  })
  afterAll(async () => {
    await srv?.stop()
    await rm(work, { recursive: true, force: true })
  })

  const post = async (files: Record<string, string>, query: string) => {
    const ctx = join(work, `ctx-${Math.random().toString(16).slice(2)}`)
    await mkdir(ctx)
    for (const [p, c] of Object.entries(files)) await writeFile(join(ctx, p), c)
    const body = execFileSync("tar", ["-C", ctx, "-cf", "-", "."])
    const res = await fetch(`${srv.url}/build${query}`, { method: "POST", body, headers: { "Content-Type": "application/x-tar" } })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  it("builds the context's Containerfile and names the image", async () => {
    const r = await post({ Containerfile: "FROM busybox\nCOPY hello /hello\nRUN cat /hello > /copy && echo ran\n", hello: "hi\n" }, "?t=api:1&buildarg=X=1")
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ steps: 3, cached: 0, layersCreated: 2 })
    expect((r.body as unknown as { image: { names: Array<string> } }).image.names).toContain("api:1")
    expect(r.body.log).toContain("STEP 3/3: RUN cat /hello > /copy && echo ran\nran\n")
    const files = await srv.engine.readFile("api:1", "/copy")
    let text = ""
    for await (const c of files) text += c.toString()
    expect(text).toBe("hi\n")
  })

  it("answers 422 with the exit code for a failing RUN, 400 for bad syntax", async () => {
    const failed = await post({ Containerfile: "FROM busybox\nRUN exit 7\n" }, "")
    expect(failed.status).toBe(422)
    expect(failed.body).toMatchObject({ error: { code: "BUILD_FAILED", detail: { exitCode: 7 } } })
    const syntax = await post({ Containerfile: "FROM busybox\nFOO bar\n" }, "")
    expect(syntax.status).toBe(400)
    expect(JSON.stringify(syntax.body)).toContain("Containerfile:2:1: unknown instruction")
    expect(await srv.engine.listContainers()).toEqual([])
  })
})
