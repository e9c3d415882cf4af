import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine, type ProgressEvent } from "../src/index.js"
import { type BuiltImage, buildLayout, busyboxLayer, tempDir } from "./fixtures.js"

describe("snapshots shared by chainID", () => {
  let dir: string
  let engine: Engine
  const images: Array<BuiltImage> = []
  const events: Array<ProgressEvent> = []

  beforeAll(async () => {
    dir = tempDir()
    for (let i = 0; i < 10; i++) {
      images.push(buildLayout(join(dir, "src"), `app${i}`, [busyboxLayer, { files: { [`app/${i}.txt`]: `app ${i}\n` } }]))
    }
    engine = await Engine.open({ root: join(dir, "root") })
    engine.on("progress", (e) => events.push(e))
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("extracts the base of ten images once, even when imported concurrently", async () => {
    await Promise.all(images.map((img) => engine.importImage(`oci:${img.dir}:${img.tag}`)))
    const base = images[0]!.layerDigests[0]!
    const extracted = events.filter((e) => e.kind === "layer" && e.phase === "done")
    expect(extracted.filter((e) => e.digest === base)).toHaveLength(1)
    expect(extracted).toHaveLength(11)
    // bytes per layer are reported while extracting
    expect(events.some((e) => e.phase === "extract" && e.digest === base && e.bytes > 0)).toBe(true)
    expect((await engine.listImages()).length).toBe(10)
  })

  it("reports the base blob as shared in df", async () => {
    const usage = await engine.df()
    expect(usage.images).toHaveLength(10)
    const baseSize = readFileSync(join(images[0]!.dir, "blobs", "sha256", images[0]!.layerDigests[0]!.slice(7))).length
    for (const row of usage.images) {
      expect(row.shared).toBeGreaterThanOrEqual(baseSize)
      expect(row.unique).toBeGreaterThan(0)
      expect(row.size).toBe(row.shared + row.unique)
    }
    const baseSnap = usage.snapshots.find((s) => s.diffId === images[0]!.diffIds[0])
    expect(baseSnap?.images).toBe(10)
    expect(usage.snapshots).toHaveLength(11)
    expect(usage.reclaimable.total).toBe(0)
  })

  it("removing nine leaves the tenth intact and reclaims their unique parts", async () => {
    const c = await engine.createContainer("app9")
    for (let i = 0; i < 9; i++) {
      const r = await engine.removeImage(`app${i}`)
      expect(r.untagged).toEqual([`app${i}:latest`])
    }
    expect((await engine.listImages()).map((i) => i.name)).toEqual(["app9:latest"])
    const usage = await engine.df()
    expect(usage.snapshots).toHaveLength(2)
    expect(usage.reclaimable.total).toBe(0)
    const mp = await engine.mountContainer(c.id)
    expect(readFileSync(join(mp, "app", "9.txt"), "utf8")).toBe("app 9\n")
    expect(readFileSync(join(mp, "etc", "passwd"), "utf8")).toContain("root:x:0:0")
    await engine.removeContainer(c.id, { force: true })
    const fsck = await engine.fsck()
    expect(fsck.problems).toEqual([])
    expect(fsck.ok).toBe(true)
  })
})
