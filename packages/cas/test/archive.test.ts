import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { gunzipSync, gzipSync } from "node:zlib"
import * as tar from "tar-stream"
import { describe, expect, it } from "vitest"
import { ArchiveFormatError, GraphCycleError, InvalidTagError, Store, UnsafeArchivePathError } from "../src/index.js"
import { putImage, sha } from "./imageFixture.js"
import { tempDir } from "./tempLayout.js"

/** A tar in memory from name -> content (a string starting with "->" makes a symlink). */
async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack()
  const parts: Buffer[] = []
  pack.on("data", (c: unknown) => {
    parts.push(c as Buffer)
  })
  const ended = new Promise<void>((r) => pack.on("end", () => r()))
  for (const [name, body] of Object.entries(files)) {
    if (typeof body === "string" && body.startsWith("->")) pack.entry({ name, type: "symlink", linkname: body.slice(2) })
    else pack.entry({ name }, body)
  }
  pack.finalize()
  await ended
  return Buffer.concat(parts)
}

/** A classic docker save of one uncompressed layer. */
function dockerSave(layerPath = "abc/layer.tar", configPath = "cfg.json", tags: unknown = ["demo:1"]) {
  const layer = Buffer.alloc(2048, 0) // two zero blocks: an empty tar
  const config = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha(layer)] } })
  return {
    layer,
    files: {
      "cfg.json": config,
      "abc/layer.tar": layer,
      "abc/VERSION": "1.0",
      "manifest.json": JSON.stringify([{ Config: configPath, RepoTags: tags, Layers: [layerPath] }])
    }
  }
}

async function nothingStored(store: Store) {
  const blobs = []
  for await (const b of store.list()) blobs.push(b)
  expect(blobs).toEqual([])
  expect(await store.tags()).toEqual([])
  const ingest = existsSync(store.layout.ingestDir) ? readdirSync(store.layout.ingestDir) : []
  expect(ingest.filter((n) => !n.endsWith(".lock"))).toEqual([])
}

async function* once(b: Buffer) {
  yield b
}

describe("docker-archive import", () => {
  it("synthesizes an OCI manifest and config with the layer stored as-is", async () => {
    const store = await Store.open(tempDir())
    const { layer, files } = dockerSave()
    const r = await store.importArchive(once(await tarOf(files)))
    expect(r.images[0]?.tags).toEqual(["demo:1"])
    const manifest = JSON.parse(Buffer.from(await store.read((await store.resolve("demo:1")).digest)).toString())
    expect(manifest.layers).toEqual([{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(layer), size: 2048 }])
    expect(manifest.config.digest).toBe(sha(files["cfg.json"]))
    expect((await store.fsck()).ok).toBe(true)
    expect((await store.fsck()).orphans).toEqual([])
  })

  it("reads a gzip-compressed archive, told by its first bytes, from a file and from a stream; one cut short is named and stores nothing", async () => {
    const { files } = dockerSave()
    const gz = gzipSync(await tarOf(files))
    const dir = tempDir()
    writeFileSync(`${dir}/save.tar.gz`, gz)
    const fromFile = await Store.open(tempDir())
    expect((await fromFile.importArchive(`${dir}/save.tar.gz`)).images[0]?.tags).toEqual(["demo:1"])
    // a stream arriving a few bytes at a time, the magic split across chunks
    const fromStream = await Store.open(tempDir())
    const chunks = async function* () {
      for (let i = 0; i < gz.length; i += 1) yield gz.subarray(i, i + 1)
    }
    const r = await fromStream.importArchive(chunks())
    expect(r.images[0]?.tags).toEqual(["demo:1"])
    expect((await fromStream.resolve("demo:1")).digest).toBe((await fromFile.resolve("demo:1")).digest)
    const cut = await Store.open(tempDir())
    const e = await cut.importArchive(once(gunzipSync(gz).subarray(0, 1000)), { name: "cut.tar" }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ArchiveFormatError)
    expect((e as ArchiveFormatError).message).toMatch(/^cut.tar: not a whole image archive: the tar stream ends in the middle/)
    await nothingStored(cut)
  })

  it("stops reading when its signal fires, from a stream or a file, storing nothing", async () => {
    const { files } = dockerSave()
    const bytes = await tarOf(files)
    // a stream that gives the first half, then waits: the abort comes while the import waits for more
    const stream = await Store.open(tempDir())
    const ac = new AbortController()
    let more!: () => void
    const gate = new Promise<void>((r) => {
      more = r
    })
    let given = false
    async function* halves() {
      yield bytes.subarray(0, bytes.length >> 1)
      given = true
      await gate
      yield bytes.subarray(bytes.length >> 1)
    }
    const importing = stream.importArchive(halves(), { signal: ac.signal }).catch((x: unknown) => x)
    while (!given) await new Promise((r) => setImmediate(r))
    ac.abort()
    more()
    expect((await importing) as Error).toMatchObject({ name: "AbortError" })
    await nothingStored(stream)
    // a file, with the signal already fired
    const dir = tempDir()
    writeFileSync(`${dir}/save.tar`, bytes)
    const file = await Store.open(tempDir())
    const e = await file.importArchive(`${dir}/save.tar`, { signal: AbortSignal.abort() }).catch((x: unknown) => x)
    expect(e as Error).toMatchObject({ name: "AbortError" })
    await nothingStored(file)
  })

  it("follows layer symlinks that stay inside the archive", async () => {
    const store = await Store.open(tempDir())
    const { files } = dockerSave("abc/layer.tar")
    const layer = files["abc/layer.tar"]
    const r = await store.importArchive(once(await tarOf({ ...files, "abc/layer.tar": "->../shared.tar", "shared.tar": layer })))
    expect(r.images).toHaveLength(1)
  })

  for (const [what, layerPath, configPath] of [
    ["a ../ layer path", "../../etc/passwd", "cfg.json"],
    ["an absolute layer path", "/etc/passwd", "cfg.json"],
    ["a ../ config path", "abc/layer.tar", "abc/../../cfg.json"]
  ] as const) {
    it(`refuses ${what} in manifest.json and stores nothing`, async () => {
      const store = await Store.open(tempDir())
      const { files } = dockerSave(layerPath, configPath)
      const e = await store.importArchive(once(await tarOf(files)), { name: "evil.tar" }).catch((x) => x)
      expect(e).toBeInstanceOf(UnsafeArchivePathError)
      expect(e.message).toContain("evil.tar")
      await nothingStored(store)
    })
  }

  it("refuses tar members and symlinks that climb out, storing nothing", async () => {
    const store = await Store.open(tempDir())
    const { files } = dockerSave()
    await expect(store.importArchive(once(await tarOf({ ...files, "../x": "boo" })))).rejects.toBeInstanceOf(UnsafeArchivePathError)
    await nothingStored(store)
    const linked = { ...files, "abc/layer.tar": "->../../outside.tar" }
    await expect(store.importArchive(once(await tarOf(linked)))).rejects.toBeInstanceOf(UnsafeArchivePathError)
    await nothingStored(store)
  })

  it("refuses a layer whose digest is not the config's diffID, and invalid tags", async () => {
    const store = await Store.open(tempDir())
    const { files } = dockerSave()
    const wrong = { ...files, "abc/layer.tar": Buffer.alloc(1024, 0) }
    await expect(store.importArchive(once(await tarOf(wrong)))).rejects.toBeInstanceOf(ArchiveFormatError)
    await nothingStored(store)
    const badTag = dockerSave("abc/layer.tar", "cfg.json", ["bad tag!"]).files
    await expect(store.importArchive(once(await tarOf(badTag)))).rejects.toBeInstanceOf(InvalidTagError)
    await nothingStored(store)
    await expect(store.importArchive(once(await tarOf({ "hello.txt": "hi" })))).rejects.toBeInstanceOf(ArchiveFormatError)
    await nothingStored(store)
  })
})

describe("import held by a lease, untagged", () => {
  const blobsOf = async (store: Store) => {
    const out: string[] = []
    for await (const b of store.list()) out.push(b.digest)
    return out.sort()
  }

  it("stores a docker-archive without touching index.json; GC keeps it until the lease goes", async () => {
    const store = await Store.open(tempDir())
    const { layer, files } = dockerSave()
    const lease = await store.createLease()
    const r = await store.importArchive(once(await tarOf(files)), { tag: false, lease: lease.id })
    expect(r.images).toHaveLength(1)
    expect(r.images[0]?.tags).toEqual(["demo:1"]) // the archive's names, reported, not applied
    expect(await store.index()).toEqual([])
    const manifest = JSON.parse(Buffer.from(await store.read(r.images[0]!.descriptor.digest)).toString())
    expect(manifest.layers[0].digest).toBe(sha(layer))
    const stored = await blobsOf(store)
    expect(stored).toHaveLength(3) // layer, config, synthesized manifest
    expect([...(await store.leases())[0]!.digests].sort()).toEqual(stored)
    expect((await store.gc()).removed).toEqual([])
    await store.releaseLease(lease.id)
    expect((await store.gc()).removed).toHaveLength(3)
    expect(await blobsOf(store)).toEqual([])
  })

  it("adds blobs the store already held to the lease, and leaves existing tags alone", async () => {
    const store = await Store.open(tempDir())
    const { files } = dockerSave()
    const archive = await tarOf(files)
    await store.importArchive(once(archive)) // tags demo:1
    await store.untag("demo:1")
    const lease = await store.createLease()
    const r = await store.importArchive(once(archive), { tag: false, lease: lease.id })
    expect(r.created).toBe(0)
    expect(await store.tags()).toEqual([])
    expect((await store.gc()).removed).toEqual([])
    expect(await blobsOf(store)).toHaveLength(3)
  })

  it("reads an oci-archive with named and unnamed images, adding no tag and no untagged root", async () => {
    const src = await Store.open(tempDir())
    const a = await putImage(src, 2)
    const b = await putImage(src, 1)
    const file = `${tempDir()}/two.tar`
    await src.exportOciArchive([{ descriptor: a.manifest, names: ["a:1"] }, { descriptor: b.manifest, names: [] }], file)
    const store = await Store.open(tempDir())
    await store.withLease(async (lease) => {
      const r = await store.importArchive(file, { tag: false, lease: lease.id })
      expect(r.format).toBe("oci-archive")
      expect(r.images.map((i) => [i.descriptor.digest, i.tags])).toEqual([
        [a.manifest.digest, ["a:1"]],
        [b.manifest.digest, []]
      ])
      expect(await store.index()).toEqual([])
      expect((await store.gc()).removed).toEqual([])
    })
    expect((await store.gc()).removed).toHaveLength(a.blobs.length + b.blobs.length)
  })

  it("fails a bad archive with the same typed errors, storing and leasing nothing", async () => {
    const store = await Store.open(tempDir())
    const lease = await store.createLease()
    const { files } = dockerSave()
    const wrong = { ...files, "abc/layer.tar": Buffer.alloc(1024, 0) }
    await expect(store.importArchive(once(await tarOf(wrong)), { tag: false, lease: lease.id })).rejects.toBeInstanceOf(ArchiveFormatError)
    await expect(store.importArchive(once(await tarOf({ ...files, "../x": "boo" })), { tag: false, lease: lease.id })).rejects.toBeInstanceOf(
      UnsafeArchivePathError
    )
    await nothingStored(store)
    expect(await store.index()).toEqual([])
    expect((await store.leases())[0]?.digests).toEqual([])
  })

  it("refuses tag: false without a lease (the blobs would be GC's at once)", async () => {
    const store = await Store.open(tempDir())
    const { files } = dockerSave()
    await expect(store.importArchive(once(await tarOf(files)), { tag: false } as never)).rejects.toBeInstanceOf(TypeError)
    await nothingStored(store)
  })
})

describe("copy between layouts", () => {
  it("copies only the blobs the target lacks", async () => {
    const src = await Store.open(tempDir())
    const dst = await Store.open(tempDir())
    const a = await putImage(src, 3)
    await src.tag("a", a.manifest)
    const first = await src.copyTo(dst, ["a"])
    expect(first.copied.length).toBe(5)
    const again = await src.copyTo(dst, ["a"])
    expect(again.copied).toEqual([])
    expect(again.skipped.length).toBe(5)
    expect((await dst.resolve("a")).digest).toBe(a.manifest.digest)
    expect((await dst.fsck()).ok).toBe(true)
    expect(await dst.leases()).toEqual([])
  })

  it("copies nothing from a graph with a cycle", async () => {
    const src = await Store.open(tempDir())
    const dst = await Store.open(tempDir())
    const fake = sha("placeholder")
    const bytes = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: fake, size: 1 }]
    })
    writeFileSync(src.layout.blobPath(fake), bytes)
    const root = { mediaType: "application/vnd.oci.image.index.v1+json", digest: fake, size: bytes.length }
    await expect(src.copyTo(dst, [{ descriptor: root, tag: "loop" }])).rejects.toBeInstanceOf(GraphCycleError)
    await nothingStored(dst)
    expect(JSON.parse(readFileSync(dst.layout.indexPath, "utf8")).manifests).toEqual([])
  })
})
