// Test images built from scratch: real gzip'd layer tars (GNU tar), a config with diff_ids, an OCI
// manifest; held in memory as a BlobSource and writable as an OCI layout for skopeo.
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Readable } from "node:stream"
import { gzipSync } from "node:zlib"
import { type Digest, digestHex, parseDigest } from "@cairn/digest"
import type { BlobSource } from "../../src/index.js"

export const sha256 = (b: Uint8Array): Digest => parseDigest(`sha256:${createHash("sha256").update(b).digest("hex")}`)

export interface Desc {
  mediaType: string
  digest: Digest
  size: number
}

export class MemorySource implements BlobSource {
  readonly blobs = new Map<string, Buffer>()
  add(bytes: Buffer, mediaType: string): Desc {
    const digest = sha256(bytes)
    this.blobs.set(digest, bytes)
    return { mediaType, digest, size: bytes.length }
  }
  async stat(d: Digest) {
    const b = this.blobs.get(d)
    return b === undefined ? undefined : { size: b.length }
  }
  async open(d: Digest) {
    const b = this.blobs.get(d)
    if (b === undefined) throw new Error(`no blob ${d}`)
    // several chunks, like a file stream
    const parts: Buffer[] = []
    for (let i = 0; i < b.length; i += 64 * 1024) parts.push(b.subarray(i, i + 64 * 1024))
    return Readable.from(parts)
  }
  /** An OCI image layout skopeo and umoci can read, with `tag` on `root`. */
  writeLayout(dir: string, root: Desc, tag: string) {
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
    for (const [d, b] of this.blobs) writeFileSync(join(dir, "blobs", "sha256", digestHex(d as Digest)), b)
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
    writeFileSync(
      join(dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [{ ...root, annotations: { "org.opencontainers.image.ref.name": tag } }] })
    )
  }
}

/** A real layer: the files as a tar (GNU tar, reproducible), gzip'd. */
export function layerTar(files: Record<string, string | Buffer>): { tar: Buffer; gz: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "cairn-layer-"))
  try {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true })
      writeFileSync(join(dir, name), content)
    }
    const tar = execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", dir, "-cf", "-", "."], {
      maxBuffer: 1 << 30
    })
    return { tar, gz: gzipSync(tar, { level: 1 }) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface TestImage {
  source: MemorySource
  manifest: Desc
  manifestBytes: Buffer
  config: Desc
  layers: Desc[]
}

export function makeImage(
  layers: Array<Record<string, string | Buffer>>,
  options: { source?: MemorySource; arch?: string; extra?: Record<string, unknown> } = {}
): TestImage {
  const source = options.source ?? new MemorySource()
  const built = layers.map((files) => layerTar(files))
  const layerDescs = built.map((l) => source.add(l.gz, "application/vnd.oci.image.layer.v1.tar+gzip"))
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: options.arch ?? "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: built.map((l) => sha256(l.tar)) }
    })
  )
  const config = source.add(configBytes, "application/vnd.oci.image.config.v1+json")
  const manifestBytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: layerDescs, ...options.extra })
  )
  const manifest = source.add(manifestBytes, "application/vnd.oci.image.manifest.v1+json")
  return { source, manifest, manifestBytes, config, layers: layerDescs }
}

/** Incompressible content for big-layer tests and benchmarks. */
export const randomFile = (size: number) => randomBytes(size)
