import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { BlobNotFoundError, IndexFileError, InvalidTagError, REF_NAME, Store, TagNotFoundError, validateRefName } from "../src/index.js"
import { putImage, sha } from "./imageFixture.js"
import { tempDir } from "./tempLayout.js"

describe("tags", () => {
  it("tags, resolves, lists and untags through ref.name annotations in index.json", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const a = await putImage(store)
    const b = await putImage(store)
    await store.tag("latest", a.manifest)
    await store.tag("v1.0", a.manifest.digest)
    expect((await store.resolve("latest")).digest).toBe(a.manifest.digest)
    expect((await store.resolve("v1.0")).mediaType).toBe("application/vnd.oci.image.manifest.v1+json")
    await store.tag("latest", b.manifest)
    expect((await store.resolve("latest")).digest).toBe(b.manifest.digest)
    expect((await store.tags()).map((t) => t.name).sort()).toEqual(["latest", "v1.0"])
    const onDisk = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"))
    expect(onDisk.manifests.map((m: { annotations: Record<string, string> }) => m.annotations[REF_NAME]).sort()).toEqual(["latest", "v1.0"])
    expect(await store.untag("v1.0")).toBe(true)
    expect(await store.untag("v1.0")).toBe(false)
    await expect(store.resolve("v1.0")).rejects.toBeInstanceOf(TagNotFoundError)
  })

  it("refuses to tag a blob that is not stored", async () => {
    const store = await Store.open(tempDir())
    await expect(store.tag("x", sha("nothing"))).rejects.toBeInstanceOf(BlobNotFoundError)
    expect(await store.tags()).toEqual([])
  })

  it("validates names against the image-spec ref.name grammar", () => {
    for (const ok of ["latest", "v1.0", "docker.io/library/busybox:1.36", "a--b", "x@y+z", "a_b"]) {
      expect(validateRefName(ok)).toBe(ok)
    }
    for (const bad of ["", "-x", "x-", "a//b", "/a", "a/", "a b", "a---b", "ä", "a..b", "../x"]) {
      expect(() => validateRefName(bad)).toThrow(InvalidTagError)
    }
  })

  it("keeps fields and untagged entries other tools wrote in index.json", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const a = await putImage(store)
    const index = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ ...a.manifest, annotations: { "com.example.note": "kept" } }],
      annotations: { "com.example.layout": "yes" },
      "x-extension": { nested: [1, 2] }
    }
    writeFileSync(join(dir, "index.json"), JSON.stringify(index))
    await store.tag("t", a.manifest)
    const after = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"))
    expect(after.annotations).toEqual({ "com.example.layout": "yes" })
    expect(after["x-extension"]).toEqual({ nested: [1, 2] })
    expect(after.manifests).toHaveLength(2)
    expect(after.manifests[0].annotations).toEqual({ "com.example.note": "kept" })
  })

  it("names the file when index.json is truncated or malformed, and changes nothing", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const a = await putImage(store)
    for (const text of ['{"schemaVersion": 2, "manifests": [', '{"schemaVersion": 2, "manifests": "no"}', "[]"]) {
      writeFileSync(join(dir, "index.json"), text)
      const e = await store.tag("t", a.manifest).catch((x) => x)
      expect(e).toBeInstanceOf(IndexFileError)
      expect(e.message).toContain(join(dir, "index.json"))
      expect(readFileSync(join(dir, "index.json"), "utf8")).toBe(text)
      await expect(Store.open(dir)).rejects.toBeInstanceOf(IndexFileError)
    }
  })

  it("checks an empty index in full: only the bare one cairn and umoci write skips the schema", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const bare = [`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, `{"schemaVersion":2,"manifests":[]}`]
    for (const text of bare) {
      writeFileSync(join(dir, "index.json"), text)
      expect(await store.index()).toEqual([])
      expect(await store.tags()).toEqual([])
    }
    // anything beside them is validated as before, whether the list is empty or not
    const bad = [
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}`,
      `{"schemaVersion":2,"manifests":[],"annotations":{"a":1}}`,
      `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc","size":1}]}`
    ]
    for (const text of bad) {
      writeFileSync(join(dir, "index.json"), text)
      const e = await store.index().catch((x) => x)
      expect(e, text).toBeInstanceOf(IndexFileError)
      expect(e.message).toContain("not an OCI image index")
    }
    writeFileSync(join(dir, "index.json"), `{"schemaVersion":2,"manifests":[],"annotations":{"org.example":"kept"}}`)
    expect(await store.index()).toEqual([])
  })

  it("loses no tag when many writers tag at once", async () => {
    const dir = tempDir()
    const stores = await Promise.all(Array.from({ length: 4 }, () => Store.open(dir)))
    const img = await putImage(stores[0]!)
    await Promise.all(stores.flatMap((s, i) => Array.from({ length: 10 }, (_, j) => s.tag(`t${i}-${j}`, img.manifest))))
    expect((await stores[0]!.tags()).length).toBe(40)
  })
})
