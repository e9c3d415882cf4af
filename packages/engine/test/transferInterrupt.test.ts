// Interrupting an import, a push or a copy stops its I/O and leaves nothing visible: no name, no
// blob once prune has run, no lease, no partial manifest at the registry. Each abort is fired by
// the operation's own first progress event (or, for an archive, as soon as the call is made), so
// the tests wait on events, not on time.
import { randomBytes } from "node:crypto"
import { readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine, type ProgressEvent } from "../src/index.js"
import { buildLayout, busyboxLayer, tempDir } from "./fixtures.js"
import { haveRegistry, startRegistry } from "./registryServer.js"

if (!haveRegistry) console.warn("skipping interrupted pushes and copies to a registry: /usr/bin/docker-registry is missing (apt-get install docker-registry)")

/** Nothing of the operation is left: no image, no index entry, no lease, and prune leaves only `keep`'s blobs. */
async function nothingLeft(engine: Engine, root: string, keep: ReadonlyArray<string> = []): Promise<void> {
  expect((await engine.listImages()).filter((i) => !i.names.some((n) => keep.includes(n)))).toEqual([])
  expect(await engine.store.leases()).toEqual([])
  await engine.prune()
  const blobs: Array<string> = []
  for await (const b of engine.store.list()) blobs.push(b.digest)
  const kept = new Set<string>()
  for (const name of keep) {
    const info = await engine.inspectImage(name)
    for (const d of [info.digest, info.configDigest, ...info.layers.map((l) => l.digest)]) kept.add(d)
  }
  expect(blobs.filter((b) => !kept.has(b))).toEqual([])
  expect(readdirSync(join(root, "snapshots")).filter((s) => s.startsWith(".tmp") || s.startsWith("."))).toEqual([])
}

/** Aborts `controller` at the first progress event of `phase`. */
const abortOnFirst = (engine: Engine, phase: ProgressEvent["phase"], controller: AbortController) => {
  const off = engine.on("progress", (e: ProgressEvent) => {
    if (e.kind === "blob" && e.phase === phase && e.bytes > 0) {
      off()
      controller.abort(new Error("the user gave up"))
    }
  })
}

describe("interrupting imports, pushes and copies", () => {
  let dir: string
  let layout: string
  beforeAll(() => {
    dir = tempDir()
    layout = join(dir, "layout")
    // 24 MiB of random bytes: incompressible, so the blob takes many chunks to store
    buildLayout(layout, "big", [busyboxLayer, { files: { "data.bin": randomBytes(24 << 20) } }])
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("an AbortSignal stops an import of a layout mid-blob: no name, no blob, no snapshot, no lease", async () => {
    const root = join(dir, "import")
    const engine = await Engine.open({ root })
    try {
      const controller = new AbortController()
      abortOnFirst(engine, "store", controller)
      await expect(engine.importImage(`oci:${layout}:big`, "big:1", { signal: controller.signal })).rejects.toMatchObject({ message: expect.stringContaining("gave up") })
      await nothingLeft(engine, root)
      expect(readdirSync(join(root, "snapshots"))).toEqual([])
      // and the same import, not interrupted, completes
      expect((await engine.importImage(`oci:${layout}:big`, "big:1")).layers).toBe(2)
    } finally {
      await engine.close()
    }
  })

  it("interrupting the Effect of an archive import (docker load) leaves none of the archive's names", async () => {
    const src = await Engine.open({ root: join(dir, "archive-src") })
    const archive = join(dir, "big.tar")
    try {
      await src.importImage(`oci:${layout}:big`, "big:1")
      await src.exportImage("big:1", `docker-archive:${archive}`)
    } finally {
      await src.close()
    }
    const root = join(dir, "archive")
    const engine = await Engine.open({ root })
    try {
      // interrupted at the next turn of the event loop: wherever it got to, nothing may be named
      const controller = new AbortController()
      const running = Effect.runPromiseExit(engine.service.importImage(`docker-archive:${archive}`), { signal: controller.signal })
      setImmediate(() => controller.abort())
      const exit = await running
      expect(Exit.isFailure(exit)).toBe(true)
      await nothingLeft(engine, root)
      const imported = await engine.importImage(`docker-archive:${archive}`)
      expect(imported.names).toEqual(["big:1"])
    } finally {
      await engine.close()
    }
  })

  describe.skipIf(!haveRegistry)("against docker-registry", () => {
    let registry: { host: string; stop: () => Promise<void> }
    let engine: Engine
    let root: string
    beforeAll(async () => {
      registry = await startRegistry()
      root = join(dir, "push")
      engine = await Engine.open({ root })
      await engine.importImage(`oci:${layout}:big`, "big:1")
    })
    afterAll(async () => {
      await engine?.close()
      await registry?.stop()
    })

    const manifestStatus = async (repo: string, tag: string) =>
      (await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).status

    it("an AbortSignal stops a push mid-upload: the registry gets no manifest for the tag", async () => {
      const controller = new AbortController()
      abortOnFirst(engine, "upload", controller)
      await expect(engine.push("big:1", `${registry.host}/test/big:1`, { signal: controller.signal })).rejects.toMatchObject({ message: expect.stringContaining("gave up") })
      expect(await manifestStatus("test/big", "1")).toBe(404)
      // the push again, whole
      await engine.push("big:1", `${registry.host}/test/big:1`)
      expect(await manifestStatus("test/big", "1")).toBe(200)
    })

    it("an AbortSignal stops a copy from the registry into a layout: no layout is left behind, nothing stays in the store", async () => {
      // a root without the image, so its blobs must cross the network
      const copyRoot = join(dir, "copy")
      const copier = await Engine.open({ root: copyRoot })
      try {
        const controller = new AbortController()
        abortOnFirst(copier, "download", controller)
        const dest = join(dir, "copied")
        await expect(copier.copy(`docker://${registry.host}/test/big:1`, `oci:${dest}:big`, { signal: controller.signal })).rejects.toMatchObject({
          message: expect.stringContaining("gave up")
        })
        expect(readdirSync(dir)).not.toContain("copied")
        await nothingLeft(copier, copyRoot)
      } finally {
        await copier.close()
      }
    })
  })
})
