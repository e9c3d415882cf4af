import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, type BuiltImage, busyboxLayer, disposeEngine, mountinfoLines, tempDir } from "./fixtures.js"

describe("engine core: import, images, containers", () => {
  let dir: string
  let root: string
  let src: BuiltImage
  let engine: Engine

  beforeAll(async () => {
    dir = tempDir()
    root = join(dir, "root")
    src = buildLayout(join(dir, "src"), "busybox:1.0", [busyboxLayer, { files: { "etc/motd": "hello\n" } }], { Cmd: ["sh"] })
    engine = await Engine.open({ root })
  })
  afterAll(() => disposeEngine(engine, dir))

  it("makes the root an OCI layout and imports oci:PATH:TAG under the source's tag", async () => {
    expect(existsSync(join(root, "oci-layout"))).toBe(true)
    const img = await engine.importImage(`oci:${src.dir}:busybox:1.0`)
    expect(img.name).toBe("busybox:1.0")
    expect(img.digest).toBe(src.manifestDigest)
    expect(img.layers).toBe(2)
    const list = await engine.listImages()
    expect(list.map((i) => i.name)).toEqual(["busybox:1.0"])
    const inspect = await engine.inspectImage("busybox:1.0")
    expect(inspect.layers.map((l) => l.diffId)).toEqual(src.diffIds)
    expect(inspect.layers.every((l) => l.snapshot)).toBe(true)
    // snapshots keyed by chainID hex, in overlay form
    const snaps = readdirSync(join(root, "snapshots")).filter((n) => !n.startsWith("."))
    expect(snaps.sort()).toEqual(inspect.layers.map((l) => l.chainId.slice(7)).sort())
    expect(readFileSync(join(root, "snapshots", inspect.layers[1]!.chainId.slice(7), "fs", "etc", "motd"), "utf8")).toBe("hello\n")
  })

  it("finds an image by name, digest and digest prefix; a missing one is ImageNotFoundError", async () => {
    expect((await engine.inspectImage("busybox:1.0")).digest).toBe(src.manifestDigest)
    expect((await engine.inspectImage(src.manifestDigest)).digest).toBe(src.manifestDigest)
    expect((await engine.inspectImage(src.manifestDigest.slice(7, 19))).digest).toBe(src.manifestDigest)
    await expect(engine.inspectImage("nope:1")).rejects.toMatchObject({ _tag: "ImageNotFoundError" })
    await expect(engine.inspectImage("busybox")).rejects.toMatchObject({ _tag: "ImageNotFoundError" })
  })

  it("tags and untags", async () => {
    await engine.tag("busybox:1.0", "bb")
    expect((await engine.listImages())[0]!.names).toEqual(["busybox:1.0", "bb:latest"])
    await engine.untag("bb")
    expect((await engine.listImages())[0]!.names).toEqual(["busybox:1.0"])
    await expect(engine.untag("bb")).rejects.toMatchObject({ _tag: "ImageNotFoundError" })
  })

  it("shows history newest first", async () => {
    const rows = await engine.history("busybox:1.0")
    expect(rows.map((r) => r.createdBy)).toEqual(["layer 1", "layer 0"])
    expect(rows.every((r) => !r.emptyLayer && r.layer !== undefined)).toBe(true)
  })

  it("creates a container whose writes land only in its upper dir", async () => {
    const c = await engine.createContainer("busybox:1.0", { name: "web" })
    expect(c.mounted).toBe(false)
    const mp = await engine.mountContainer("web")
    expect(readFileSync(join(mp, "etc", "motd"), "utf8")).toBe("hello\n")
    writeFileSync(join(mp, "etc", "motd"), "changed\n")
    writeFileSync(join(mp, "new.txt"), "new\n")
    const upper = join(root, "containers", c.id, "upper")
    expect(readFileSync(join(upper, "etc", "motd"), "utf8")).toBe("changed\n")
    expect(readFileSync(join(upper, "new.txt"), "utf8")).toBe("new\n")
    const inspect = await engine.inspectImage("busybox:1.0")
    expect(readFileSync(join(root, "snapshots", inspect.layers[1]!.chainId.slice(7), "fs", "etc", "motd"), "utf8")).toBe("hello\n")
    const listed = await engine.listContainers()
    expect(listed.find((x) => x.id === c.id)).toMatchObject({ mounted: true, mountpoint: mp, name: "web" })
    expect(await engine.mountContainer("web")).toBe(mp)
    await expect(engine.removeContainer("web")).rejects.toMatchObject({ _tag: "ContainerMountedError" })
    await expect(engine.removeImage("busybox:1.0")).rejects.toMatchObject({ _tag: "ImageInUseError" })
    await engine.unmountContainer(c.id.slice(0, 12))
    expect((await engine.listContainers()).find((x) => x.id === c.id)?.mounted).toBe(false)
    await expect(engine.createContainer("busybox:1.0", { name: "web" })).rejects.toMatchObject({ _tag: "ContainerNameInUseError" })
    await engine.removeContainer("web")
    expect(existsSync(join(root, "containers", c.id))).toBe(false)
    await expect(engine.removeContainer("web")).rejects.toMatchObject({ _tag: "ContainerNotFoundError" })
  })

  it("repairs at open: a mount whose metadata says unmounted is unmounted, and vice versa", async () => {
    const c = await engine.createContainer("busybox:1.0")
    await engine.mountContainer(c.id)
    const meta = join(root, "containers", c.id, "meta.json")
    const m = JSON.parse(readFileSync(meta, "utf8"))
    delete m.mounted
    writeFileSync(meta, JSON.stringify(m)) // as if killed between mount and writing the meta
    const again = await Engine.open({ root })
    expect(mountinfoLines().some((l) => l.includes(c.id))).toBe(false)
    expect((await again.listContainers()).find((x) => x.id === c.id)?.mounted).toBe(false)
    await again.removeContainer(c.id)
  })
})
