// Prune must stop, naming it, when it cannot read an image or a container: skipping it would
// make the snapshots it uses look unused and prune would delete them (containerd's GC stops too).
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { INGEST_GRACE_MS } from "@cairn/cas"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, tempDir } from "./fixtures.js"

describe("prune with state it cannot read", () => {
  let dir: string
  let engine: Engine
  beforeEach(async () => {
    dir = tempDir()
    buildLayout(join(dir, "a"), "a", [{ files: { "a.txt": "a\n" } }])
    buildLayout(join(dir, "b"), "b", [{ files: { "b.txt": "b\n" } }])
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "a")}:a`)
    await engine.importImage(`oci:${join(dir, "b")}:b`)
  })
  afterEach(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const snapshotIds = async () => (await engine.df()).snapshots.map((s) => s.chainId).sort()

  it("a container whose meta.json is corrupt: prune fails naming it and removes nothing", async () => {
    const c = await engine.createContainer("a")
    await engine.untag("a") // the container is now the only user of a's snapshot
    const before = await snapshotIds()
    expect(before).toHaveLength(2)
    const meta = join(dir, "root", "containers", c.id, "meta.json")
    writeFileSync(meta, "{ not json")
    const err = await engine.prune().then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toMatchObject({ _tag: "UnreadableStateError", message: expect.stringContaining(c.id) })
    expect((err as Error).message).toContain(meta)
    // nothing was removed: a's snapshot (held by the container) and the store's blobs remain
    writeFileSync(meta, "{}") // still not container metadata
    await expect(engine.prune()).rejects.toMatchObject({ _tag: "UnreadableStateError" })
    rmSync(meta)
    await expect(engine.prune()).rejects.toMatchObject({ _tag: "UnreadableStateError", message: expect.stringContaining("ENOENT") })
    expect(readdirSync(join(dir, "root", "snapshots")).filter((n) => !n.startsWith(".")).sort()).toEqual(before.map((d) => d.slice(7)))
  })

  it("an image whose config blob is missing: prune fails naming the image and keeps its snapshot", async () => {
    await engine.createContainer("b") // makes b's snapshot
    const c = await engine.createContainer("a")
    await engine.removeContainer(c.id)
    const before = await snapshotIds()
    expect(before).toHaveLength(2)
    const info = await engine.inspectImage("a")
    const configFile = join(dir, "root", "blobs", "sha256", info.configDigest.slice(7))
    expect(statSync(configFile).isFile()).toBe(true)
    rmSync(configFile)
    await expect(engine.prune()).rejects.toMatchObject({ _tag: "UnreadableStateError", message: expect.stringContaining("a:latest") })
    expect(readdirSync(join(dir, "root", "snapshots")).filter((n) => !n.startsWith(".")).sort()).toEqual(before.map((d) => d.slice(7)))
  })
})

describe("partial ingests in df and prune", () => {
  it("df shows the bytes of a partial left by a killed pull; prune reclaims it once stale", async () => {
    const dir = tempDir()
    try {
      const engine = await Engine.open({ root: join(dir, "root") })
      // what a pull killed mid-blob leaves: bytes under the digest it was fetching, no live writer
      const ingest = join(dir, "root", "ingest")
      mkdirSync(ingest, { recursive: true })
      const partial = join(ingest, `sha256-${"ab".repeat(32)}`)
      writeFileSync(partial, Buffer.alloc(70_000, 1))
      let u = await engine.df()
      expect(u.ingests).toEqual({ count: 1, active: 0, bytes: 70_000, stale: 0 })
      expect((await engine.prune()).removed).toEqual([])
      const old = new Date(Date.now() - INGEST_GRACE_MS - 60_000)
      utimesSync(partial, old, old)
      u = await engine.df()
      expect(u.reclaimable.ingests).toBe(70_000)
      expect(u.reclaimable.total).toBe(70_000)
      expect((await engine.fsck()).store.staleIngests).toHaveLength(1)
      const r = await engine.prune()
      expect(r).toMatchObject({ removed: [`ingest/sha256-${"ab".repeat(32)}`], bytes: 70_000, ingestBytes: 70_000 })
      expect((await engine.df()).ingests.count).toBe(0)
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
