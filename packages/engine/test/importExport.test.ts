import { spawnSync } from "node:child_process"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, busyboxLayer, haveTool, tempDir } from "./fixtures.js"

const haveSkopeo = haveTool("skopeo")
if (!haveSkopeo) console.warn("skipping skopeo-made archives: skopeo is not installed (Debian package skopeo)")

describe("import and export: oci, oci-archive, docker-archive", () => {
  let dir: string
  let engine: Engine
  let digest: string
  beforeAll(async () => {
    dir = tempDir()
    const img = buildLayout(join(dir, "src"), "bb:1.0", [busyboxLayer, { files: { "etc/motd": "m\n" } }])
    digest = img.manifestDigest
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "src")}:bb:1.0`)
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("round-trips through an oci-archive and an OCI layout with the same manifest digest", async () => {
    await engine.exportImage("bb:1.0", `oci-archive:${join(dir, "bb.oci.tar")}`)
    await engine.exportImage("bb:1.0", `oci:${join(dir, "layout")}:exported`)
    const other = await Engine.open({ root: join(dir, "root2") })
    const a = await other.importImage(`oci-archive:${join(dir, "bb.oci.tar")}`)
    expect(a).toMatchObject({ name: "bb:1.0", digest })
    const b = await other.importImage(`oci:${join(dir, "layout")}:exported`, "again:2")
    expect(b).toMatchObject({ name: "again:2", digest })
    expect((await other.inspectImage("again:2")).layers.every((l) => l.snapshot)).toBe(true)
    await other.close()
  })

  it("round-trips through a docker-archive (same layers and config)", async () => {
    await engine.exportImage("bb:1.0", `docker-archive:${join(dir, "bb.docker.tar")}`)
    const other = await Engine.open({ root: join(dir, "root3") })
    const img = await other.importImage(`docker-archive:${join(dir, "bb.docker.tar")}`, "loaded")
    expect(img.name).toBe("loaded:latest")
    const before = await engine.inspectImage("bb:1.0")
    const after = await other.inspectImage("loaded")
    expect(after.configDigest).toBe(before.configDigest)
    expect(after.layers.map((l) => l.diffId)).toEqual(before.layers.map((l) => l.diffId))
    await other.close()
  })

  it.skipIf(!haveSkopeo)("imports a docker-archive written by skopeo", async () => {
    const file = join(dir, "skopeo.tar")
    const r = spawnSync("skopeo", ["copy", `oci:${join(dir, "src")}:bb:1.0`, `docker-archive:${file}:busybox:skopeo`], { encoding: "utf8" })
    expect(r.status, r.stderr).toBe(0)
    const img = await engine.importImage(`docker-archive:${file}`)
    expect(img.name).toBe("busybox:skopeo")
    // skopeo wrote RepoTags as docker.io/library/busybox:skopeo; the short name picks it as well
    expect(await engine.importImage(`docker-archive:${file}:busybox:skopeo`, "picked")).toMatchObject({ name: "picked:latest", digest: img.digest })
    expect(img.layers).toBe(2)
    const unpacked = join(dir, "from-skopeo")
    await engine.unpack("busybox:skopeo", unpacked)
  })

  it("rejects a broken archive and stores no image", async () => {
    const before = (await engine.listImages()).length
    const bad = join(dir, "bad.tar")
    spawnSync("sh", ["-c", `head -c 3000 ${join(dir, "bb.oci.tar")} > ${bad}`])
    await expect(engine.importImage(`oci-archive:${bad}`)).rejects.toBeInstanceOf(Error)
    await expect(engine.importImage(`docker-archive:${join(dir, "missing.tar")}`)).rejects.toMatchObject({ _tag: "InvalidSourceError" })
    expect((await engine.listImages()).length).toBe(before)
  })
})
