import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine, type ProgressEvent } from "../src/index.js"
import { buildLayout, busyboxLayer, tempDir } from "./fixtures.js"
import { haveRegistry, startRegistry } from "./registryServer.js"

if (!haveRegistry) console.warn("skipping pull/push/copy: /usr/bin/docker-registry is missing (apt-get install docker-registry)")

describe.skipIf(!haveRegistry)("pull, push and copy against docker-registry", () => {
  let dir: string
  let registry: { host: string; stop: () => Promise<void> }
  let source: Engine
  let digest: string
  beforeAll(async () => {
    dir = tempDir()
    registry = await startRegistry()
    const built = buildLayout(join(dir, "src"), "bb", [busyboxLayer, { files: { "etc/motd": "pulled\n" } }, { files: { "x/y.txt": "y\n" } }])
    digest = built.manifestDigest
    source = await Engine.open({ root: join(dir, "source") })
    await source.importImage(`oci:${join(dir, "src")}:bb`, "bb:1")
  })
  afterAll(async () => {
    await source.close()
    await registry.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("pushes a local image with the same manifest digest", async () => {
    const r = await source.push("bb:1", `${registry.host}/test/bb:1`)
    expect(r.digest).toBe(digest)
  })

  it("pulls into a fresh root, extracting every layer, and a second pull moves no blob bytes", async () => {
    const engine = await Engine.open({ root: join(dir, "pulled") })
    const events: Array<ProgressEvent> = []
    engine.on("progress", (e) => events.push(e))
    const img = await engine.pull(`${registry.host}/test/bb:1`)
    expect(img).toMatchObject({ name: `${registry.host}/test/bb:1`, digest, layers: 3 })
    const inspect = await engine.inspectImage(img.digest)
    expect(inspect.layers.every((l) => l.snapshot)).toBe(true)
    expect(events.filter((e) => e.phase === "download" && e.bytes > 0).length).toBeGreaterThan(0)
    expect(events.filter((e) => e.kind === "layer" && e.phase === "done")).toHaveLength(3)
    const c = await engine.createContainer(img.digest)
    const mp = await engine.mountContainer(c.id)
    expect(readFileSync(join(mp, "etc", "motd"), "utf8")).toBe("pulled\n")
    await engine.removeContainer(c.id, { force: true })

    events.length = 0
    const again = await engine.pull(`${registry.host}/test/bb:1`, "again")
    expect(again.digest).toBe(digest)
    expect(events.filter((e) => e.phase === "download" && e.bytes > 0)).toEqual([])
    expect(events.filter((e) => e.kind === "layer" && e.phase === "done")).toEqual([])
    await engine.close()
  })

  it("checks both digests of a layer blob the root already held, though the pull verified the others in its store", async () => {
    const root = join(dir, "held")
    const engine = await Engine.open({ root })
    // the root holds the motd layer's blob already, with bytes that no longer match its digest but
    // still hold the same tar (another gzip header OS byte, RFC 1952 §2.3): the pull skips the
    // download, and only the extraction's blob-digest check can notice
    const blob = (d: string) => readFileSync(join(dir, "src", "blobs", "sha256", d.slice(7)))
    const manifest = JSON.parse(blob(digest).toString("utf8"))
    const layer = manifest.layers[1]
    const base = JSON.parse(blob(manifest.config.digest).toString("utf8")).rootfs.diff_ids[0] as string
    const gz = blob(layer.digest)
    gz[9] = gz[9] === 0xff ? 0x03 : 0xff
    writeFileSync(join(root, "blobs", "sha256", layer.digest.slice(7)), gz)
    await expect(engine.pull(`${registry.host}/test/bb:1`)).rejects.toThrow(/layer blob digest mismatch/)
    // the base layer, downloaded by this pull, was extracted below it (its chainID is its diffID)
    expect(existsSync(join(root, "snapshots", base.slice(7), "meta.json"))).toBe(true)
    await engine.close()
  })

  it("copies between registry, layouts, archives and the local store", async () => {
    const engine = await Engine.open({ root: join(dir, "copier") })
    expect(await engine.copy(`docker://${registry.host}/test/bb:1`, `oci:${join(dir, "out")}:copied`)).toEqual({ digest })
    expect((await engine.listImages()).length).toBe(0) // through the store, nothing left as an image
    expect(await engine.copy(`oci:${join(dir, "out")}:copied`, `docker://${registry.host}/other/bb:2`)).toEqual({ digest })
    expect(await engine.copy(`docker://${registry.host}/other/bb:2`, "local:mine:2")).toEqual({ digest })
    expect(await engine.copy("local:mine:2", `oci-archive:${join(dir, "mine.tar")}`)).toEqual({ digest })
    const index = JSON.parse(readFileSync(join(dir, "out", "index.json"), "utf8"))
    expect(index.manifests[0].digest).toBe(digest)
    await engine.close()
  })
})
