import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Digest } from "@cairn/digest"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { extractLayer } from "../src/layers.js"
import type { LayerDescriptor } from "../src/store.js"
import { buildLayout, tempDir } from "./fixtures.js"

/**
 * The blob with its gzip header's OS byte (RFC 1952 §2.3, offset 9) changed: another blob digest,
 * the same tar inside (no decompressor checks that byte), so only a blob-digest check can notice.
 */
const withOtherGzipHeader = (gz: Buffer): Buffer => {
  const b = Buffer.from(gz)
  b[9] = b[9] === 0xff ? 0x03 : 0xff
  return b
}

describe("extracting a layer blob: which digests are checked", () => {
  let dir: string
  let engine: Engine
  let layer: LayerDescriptor
  let diffId: Digest
  const noop = () => {}
  beforeAll(async () => {
    dir = tempDir()
    const built = buildLayout(join(dir, "src"), "x", [{ files: { "etc/motd": "hello\n" } }])
    const digest = built.layerDigests[0] as Digest
    diffId = built.diffIds[0] as Digest
    const gz = readFileSync(join(dir, "src", "blobs", "sha256", digest.slice(7)))
    layer = { digest, size: gz.length, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.store.put(layer, gz)
    // the bytes under the digest change after the store verified them (a disk or a hand at work)
    writeFileSync(join(dir, "root", "blobs", "sha256", digest.slice(7)), withOtherGzipHeader(gz))
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("checks a blob of unknown age against its digest as well as its diffID", async () => {
    const ctx = engine.service.context
    await expect(extractLayer(ctx.store, layer, diffId, join(dir, "t1"), noop)).rejects.toMatchObject({ _tag: "LayerDigestMismatchError", expected: layer.digest })
  })

  it("hashes only the tar, for its diffID, when the store verified the blob moments ago", async () => {
    const ctx = engine.service.context
    await extractLayer(ctx.store, layer, diffId, join(dir, "t2"), noop, [], { blobJustVerified: true })
    expect(readFileSync(join(dir, "t2", "etc", "motd"), "utf8")).toBe("hello\n")
  })

  it("still fails on a diffID mismatch when the blob was just verified", async () => {
    const ctx = engine.service.context
    const wrong = `sha256:${"0".repeat(64)}` as Digest
    await expect(extractLayer(ctx.store, layer, wrong, join(dir, "t3"), noop, [], { blobJustVerified: true })).rejects.toMatchObject({
      _tag: "DiffIdMismatchError",
      expected: wrong,
      actual: diffId
    })
  })
})
