import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import type { Digest } from "@cairn/digest"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { defaultRoot, Engine, normalizeName, parseTransport, resolveUser } from "../src/index.js"
import { ensureSnapshot } from "../src/snapshots.js"
import { buildLayout, busyboxLayer, tempDir } from "./fixtures.js"

describe("names, transports and the default root", () => {
  it("normalizes local names with the default tag", () => {
    expect(normalizeName("busybox")).toBe("busybox:latest")
    expect(normalizeName("my/app:1.0")).toBe("my/app:1.0")
    expect(normalizeName("127.0.0.1:5000/library/debian")).toBe("127.0.0.1:5000/library/debian:latest")
    expect(() => normalizeName("Upper")).toThrow(/invalid reference/)
    expect(() => normalizeName("a:.bad")).toThrow(/tag/)
  })

  it("parses transports as skopeo spells them (PATH:REF split at the first colon)", () => {
    expect(parseTransport("oci:/tmp/x:busybox:1")).toEqual({ kind: "oci", path: "/tmp/x", ref: "busybox:1" })
    expect(parseTransport("oci:/tmp/x")).toEqual({ kind: "oci", path: "/tmp/x" })
    expect(parseTransport("oci-archive:/tmp/a.tar")).toEqual({ kind: "oci-archive", path: "/tmp/a.tar" })
    expect(parseTransport("docker-archive:/tmp/d.tar:bb:2")).toEqual({ kind: "docker-archive", path: "/tmp/d.tar", ref: "bb:2" })
    expect(parseTransport("docker://127.0.0.1:5000/a/b:c")).toEqual({ kind: "docker", ref: "127.0.0.1:5000/a/b:c" })
    expect(parseTransport("local:bb:1")).toEqual({ kind: "local", image: "bb:1" })
    expect(() => parseTransport("/tmp/x")).toThrow(/transport/)
    expect(() => parseTransport("oci:")).toThrow(/needs a path/)
  })

  it("resolves the default root: CAIRN_ROOT, else /var/lib/cairn for root, else XDG_DATA_HOME", () => {
    expect(defaultRoot({ CAIRN_ROOT: "/srv/cairn" })).toBe("/srv/cairn")
    expect(defaultRoot({})).toBe(process.getuid?.() === 0 ? "/var/lib/cairn" : expect.stringContaining("cairn"))
  })
})

describe("users of a bundle", () => {
  let rootfs: string
  beforeAll(() => {
    rootfs = tempDir()
    mkdirSync(join(rootfs, "etc"))
    writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\napp:x:1001:\nstaff:x:50:\n")
  })
  afterAll(() => rmSync(rootfs, { recursive: true, force: true }))

  it("resolves user and group names from the image's passwd and group files", async () => {
    expect(await resolveUser(rootfs, "")).toEqual({ uid: 0, gid: 0 })
    expect(await resolveUser(rootfs, "app")).toEqual({ uid: 1000, gid: 1001 })
    expect(await resolveUser(rootfs, "app:staff")).toEqual({ uid: 1000, gid: 50 })
    expect(await resolveUser(rootfs, "1000")).toEqual({ uid: 1000, gid: 1001 })
    expect(await resolveUser(rootfs, "4242:7")).toEqual({ uid: 4242, gid: 7 })
    await expect(resolveUser(rootfs, "ghost")).rejects.toMatchObject({ _tag: "UnsupportedImageError" })
  })
})

describe("history with empty layers", () => {
  let dir: string
  let engine: Engine
  beforeAll(async () => {
    dir = tempDir()
    buildLayout(join(dir, "src"), "h", [busyboxLayer, { files: { a: "a\n" } }], {}, [
      { created_by: "ADD busybox" },
      { created_by: "ENV A=1", empty_layer: true },
      { created_by: "COPY a" },
      { created_by: 'CMD ["sh"]', empty_layer: true }
    ])
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "src")}:h`)
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("lists every history entry newest first, empty ones without a layer", async () => {
    const rows = await engine.history("h")
    const layers = (await engine.inspectImage("h")).layers
    expect(rows.map((r) => [r.createdBy, r.emptyLayer, r.layer])).toEqual([
      ['CMD ["sh"]', true, undefined],
      ["COPY a", false, layers[1]!.digest],
      ["ENV A=1", true, undefined],
      ["ADD busybox", false, layers[0]!.digest]
    ])
    expect(rows[1]!.size).toBe(layers[1]!.size)
  })
})

describe("images without a name", () => {
  it("are listed without names, found by digest, and removed again", async () => {
    const dir = tempDir()
    try {
      const built = buildLayout(join(dir, "src"), "x", [{ files: { a: "a\n" } }])
      const indexPath = join(dir, "src", "index.json")
      const index = JSON.parse(readFileSync(indexPath, "utf8"))
      delete index.manifests[0].annotations
      writeFileSync(indexPath, JSON.stringify(index))
      const engine = await Engine.open({ root: join(dir, "root") })
      const img = await engine.importImage(`oci:${join(dir, "src")}`)
      expect(img.name).toBeUndefined()
      expect((await engine.listImages()).map((i) => [i.digest, i.names])).toEqual([[built.manifestDigest, []]])
      await engine.tag(built.manifestDigest, "named")
      expect((await engine.listImages()).map((i) => i.names)).toEqual([["named:latest"]])
      await engine.untag("named")
      expect(await engine.listImages()).toEqual([])
      const again = await engine.importImage(`oci:${join(dir, "src")}`)
      const removed = await engine.removeImage(again.digest.slice(7, 20))
      expect(removed.deleted[0]).toBe(built.manifestDigest)
      // issue #16: the manifest digest was listed again among what prune reclaimed
      expect(removed.deleted.length).toBeGreaterThan(1)
      expect(new Set(removed.deleted).size).toBe(removed.deleted.length)
      expect(await engine.listImages()).toEqual([])
      expect((await engine.df()).snapshots).toEqual([])
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("racing extractions of one chainID", () => {
  it("lets the loser discard its copy when another process renamed its snapshot in first", async () => {
    const dir = tempDir()
    try {
      const built = buildLayout(join(dir, "src"), "r", [{ files: { a: "ours\n" } }])
      const engine = await Engine.open({ root: join(dir, "root") })
      const ctx = engine.service.context
      const chain = built.diffIds[0]!.slice(7)
      const layers = [{ digest: built.layerDigests[0] as Digest, size: 0, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }]
      const blob = readFileSync(join(dir, "src", "blobs", "sha256", built.layerDigests[0]!.slice(7)))
      layers[0]!.size = blob.length
      await ctx.store.put(layers[0]!, blob)
      const racing = {
        ...ctx,
        extract: async (...args: Parameters<typeof ctx.extract>) => {
          await ctx.extract(...args)
          // the other process finishes first: a complete snapshot appears under the final name
          mkdirSync(join(dir, "root", "snapshots", chain, "fs"), { recursive: true })
          writeFileSync(join(dir, "root", "snapshots", chain, "fs", "a"), "theirs\n")
          writeFileSync(join(dir, "root", "snapshots", chain, "meta.json"), JSON.stringify({ chainId: built.diffIds[0], diffId: built.diffIds[0] }))
        }
      }
      expect(await ensureSnapshot(racing, layers, [built.diffIds[0] as Digest], 0)).toBe(false)
      expect(readFileSync(join(dir, "root", "snapshots", chain, "fs", "a"), "utf8")).toBe("theirs\n")
      expect(readdirSync(join(dir, "root", "snapshots"))).toEqual([chain])
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
