// A layer's media type decides how it is extracted: an unknown type is refused (never extracted
// by sniffing the bytes), and bytes that are not the declared compression are refused too.
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { haveTool, layerTar, tempDir } from "./fixtures.js"

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`

/** An OCI layout with one image `tag` of one layer: `blob` stored under `mediaType`, `tar` its uncompressed form. */
function layoutWith(dir: string, tag: string, mediaType: string, blob: Buffer, tar: Buffer) {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
  const put = (b: Buffer) => {
    writeFileSync(join(dir, "blobs", "sha256", sha(b).slice(7)), b)
    return sha(b)
  }
  const cfg = Buffer.from(
    JSON.stringify({ architecture: process.arch === "x64" ? "amd64" : process.arch, os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [sha(tar)] } })
  )
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: put(cfg), size: cfg.length },
      layers: [{ mediaType, digest: put(blob), size: blob.length }]
    })
  )
  const md = put(manifest)
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: md, size: manifest.length, annotations: { "org.opencontainers.image.ref.name": tag } }]
    })
  )
  return { layer: sha(blob) }
}

describe("layer media types", () => {
  let dir: string
  let engine: Engine
  const tar = layerTar({ files: { "bin/tool": "#!/bin/sh\necho hi\n", "etc/x": "x\n" } })
  beforeAll(async () => {
    dir = tempDir()
    engine = await Engine.open({ root: join(dir, "root") })
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** A known media type over bytes of another compression: import (which extracts) refuses it, naming the layer. */
  const refusedAtImport = async (name: string, mediaType: string, blob: Buffer, reason: RegExp) => {
    const { layer } = layoutWith(join(dir, `src-${name}`), name, mediaType, blob, tar)
    const err = await engine.importImage(`oci:${join(dir, `src-${name}`)}:${name}`).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toMatchObject({ _tag: "LayerMediaTypeError", message: expect.stringMatching(reason) })
    expect((err as Error).message).toContain(layer)
    expect((err as Error).message).toContain(mediaType)
    expect((await engine.listImages()).flatMap((i) => i.names)).not.toContain(`${name}:latest`)
  }

  const refused = async (name: string, mediaType: string, blob: Buffer, reason: RegExp) => {
    const { layer } = layoutWith(join(dir, `src-${name}`), name, mediaType, blob, tar)
    // store keeps it as it is
    await engine.importImage(`oci:${join(dir, `src-${name}`)}:${name}`)
    expect((await engine.inspectImage(name)).layers[0]).toMatchObject({ digest: layer, mediaType })
    const expected = { _tag: "LayerMediaTypeError", message: expect.stringMatching(reason) }
    const target = join(dir, `unpack-${name}`)
    await expect(engine.unpack(name, target)).rejects.toMatchObject(expected)
    await expect(engine.unpack(name, target)).rejects.toThrow(layer)
    await expect(engine.unpack(name, target)).rejects.toThrow(mediaType)
    // nothing of the layer was written
    expect(existsSync(join(target, "bin"))).toBe(false)
    expect(existsSync(join(target, "etc"))).toBe(false)
    const bundleDir = join(dir, `bundle-${name}`)
    await expect(engine.bundle(name, bundleDir)).rejects.toMatchObject(expected)
    // the bundle is built in a temporary sibling: a refused layer leaves no bundle dir at all
    expect(existsSync(bundleDir)).toBe(false)
    expect(readdirSync(dir).filter((n) => n.startsWith(`.bundle-${name}.tmp-`))).toEqual([])
    await expect(engine.createContainer(name)).rejects.toMatchObject(expected)
    await expect(engine.exportFs(name, join(dir, `fs-${name}.tar`))).rejects.toMatchObject(expected)
  }

  it("refuses to extract an unknown media type whose bytes happen to be a plain tar", async () => {
    await refused("unknown", "application/vnd.example.layer.v1.tar+lz4", tar, /not a layer media type/)
  })

  it("refuses gzip declared over plain tar bytes, and a plain tar declared over gzip bytes", async () => {
    await refusedAtImport("gzplain", "application/vnd.oci.image.layer.v1.tar+gzip", tar, /declares gzip but the bytes are no compression/)
    await refusedAtImport("plaingz", "application/vnd.oci.image.layer.v1.tar", gzipSync(tar), /declares no compression \(a plain tar\) but the bytes are gzip/)
  })

  it("refuses gzip declared over zstd bytes", async () => {
    if (!haveTool("zstd")) {
      console.log("skipped: the zstd tool is not installed")
      return
    }
    const zst = execFileSync("zstd", ["-q", "-c"], { input: tar })
    await refusedAtImport("gzzstd", "application/vnd.oci.image.layer.v1.tar+gzip", zst, /declares gzip but the bytes are zstd/)
  })

  it("checks a big layer, read where it lies on overlay's reader thread, the same way", async () => {
    // >= 16 MiB of gzip: unpack reads the stored blob's file on a thread of its own instead of a stream
    const content = randomBytes(17 << 20)
    const bigTar = layerTar({ files: { "big/blob": content, "etc/y": "y\n" } })
    const gz = gzipSync(bigTar, { level: 1 })
    expect(gz.length).toBeGreaterThanOrEqual(16 << 20)
    await refusedAtImport("bigplaingz", "application/vnd.oci.image.layer.v1.tar", gz, /declares no compression \(a plain tar\) but the bytes are gzip/)
    layoutWith(join(dir, "src-bigok"), "bigok", "application/vnd.oci.image.layer.v1.tar+gzip", gz, bigTar)
    await engine.importImage(`oci:${join(dir, "src-bigok")}:bigok`)
    await engine.unpack("bigok", join(dir, "unpack-bigok"))
    expect(readFileSync(join(dir, "unpack-bigok", "big", "blob")).equals(content)).toBe(true)
    // and a container over it: its snapshot is extracted the same way
    const c = await engine.createContainer("bigok")
    expect(c).toBeDefined()
  })

  it("still extracts a layer whose bytes match its media type", async () => {
    layoutWith(join(dir, "src-ok"), "ok", "application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(tar), tar)
    await engine.importImage(`oci:${join(dir, "src-ok")}:ok`)
    await engine.unpack("ok", join(dir, "unpack-ok"))
    expect(readdirSync(join(dir, "unpack-ok")).sort()).toEqual(["bin", "etc"])
  })
})
