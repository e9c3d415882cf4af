import { readFileSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine, EngineService } from "../src/index.js"
import { buildLayout, busyboxLayer, disposeEngine, mountinfoLines, tempDir } from "./fixtures.js"

describe("bad input gives typed errors and changes nothing", () => {
  let dir: string
  let root: string
  let engine: Engine
  const state = () => ({
    index: readFileSync(join(root, "index.json"), "utf8"),
    snapshots: readdirSync(join(root, "snapshots")).sort(),
    containers: readdirSync(join(root, "containers")).sort()
  })

  beforeAll(async () => {
    dir = tempDir()
    root = join(dir, "root")
    buildLayout(join(dir, "src"), "base", [busyboxLayer])
    engine = await Engine.open({ root })
    await engine.importImage(`oci:${join(dir, "src")}:base`, "base")
  })
  afterAll(() => disposeEngine(engine, dir))

  it("rejects missing images, tags and containers", async () => {
    const before = state()
    await expect(engine.inspectImage("missing")).rejects.toMatchObject({ _tag: "ImageNotFoundError", image: "missing" })
    await expect(engine.createContainer("base:nope")).rejects.toMatchObject({ _tag: "ImageNotFoundError" })
    await expect(engine.tag("missing", "x")).rejects.toMatchObject({ _tag: "ImageNotFoundError" })
    await expect(engine.untag("base:nope")).rejects.toMatchObject({ _tag: "ImageNotFoundError" })
    await expect(engine.mountContainer("ghost")).rejects.toMatchObject({ _tag: "ContainerNotFoundError", container: "ghost" })
    await expect(engine.unmountContainer("ghost")).rejects.toMatchObject({ _tag: "ContainerNotFoundError" })
    await expect(engine.importImage(`oci:${join(dir, "src")}:nope`)).rejects.toMatchObject({ _tag: "InvalidSourceError" })
    await expect(engine.importImage(`oci:${join(dir, "nowhere")}`)).rejects.toMatchObject({ _tag: "InvalidSourceError" })
    await expect(engine.importImage("/just/a/path")).rejects.toMatchObject({ _tag: "InvalidReferenceError" })
    await expect(engine.tag("base", "Bad Name")).rejects.toMatchObject({ _tag: "InvalidReferenceError" })
    await expect(Engine.open({ root, driver: "zfs" as "copy" })).rejects.toMatchObject({ _tag: "DriverNameError" })
    expect(state()).toEqual(before)
  })

  it("rejects a layout whose layer does not match its digest; no image or snapshot appears", async () => {
    const bad = join(dir, "bad")
    const img = buildLayout(bad, "broken", [busyboxLayer, { files: { "x.txt": "x\n" } }])
    const blob = join(bad, "blobs", "sha256", img.layerDigests[1]!.slice(7))
    const bytes = readFileSync(blob)
    bytes[bytes.length - 12] = bytes[bytes.length - 12]! ^ 0xff
    writeFileSync(blob, bytes)
    const before = state()
    const err = await engine.importImage(`oci:${bad}:broken`).catch((e) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err._tag).toMatch(/Mismatch|Decompression|Tar/)
    expect(state()).toEqual(before)
    expect((await engine.fsck()).ok).toBe(true)
  })

  it("answers a second mount with the same path, and refuses the removal of an image in use", async () => {
    const c = await engine.createContainer("base", { name: "busy" })
    const mp = await engine.mountContainer("busy")
    const before = state()
    expect(await engine.mountContainer("busy")).toBe(mp)
    await expect(engine.removeImage("base")).rejects.toMatchObject({ _tag: "ImageInUseError", containers: [c.id] })
    await expect(engine.removeImage("base", { force: true })).rejects.toMatchObject({ _tag: "ImageInUseError" })
    expect(state()).toEqual(before)
    expect(mountinfoLines().filter((l) => l.includes(c.id))).toHaveLength(1)
    await engine.removeContainer("busy", { force: true })
  })

  it("serves the same operations as Effects through EngineService", async () => {
    const program = Effect.gen(function* () {
      const svc = yield* EngineService
      const images = yield* svc.listImages()
      const missing = yield* svc.inspectImage("nope").pipe(
        Effect.catchTag("ImageNotFoundError", (e) => Effect.succeed(`caught ${e.image}`))
      )
      return { names: images.map((i) => i.name), missing }
    })
    const out = await Effect.runPromise(Effect.scoped(Effect.provide(program, Engine.layer({ root }))))
    expect(out).toEqual({ names: ["base:latest"], missing: "caught nope" })
  })
})
