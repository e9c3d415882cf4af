import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import {
  DockerMediaType,
  dockerToOciMediaType,
  EmptyJsonDescriptor,
  isConfigMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isNonDistributable,
  layerCompression,
  OciMediaType,
  ociToDockerMediaType
} from "../src/index.js"

describe("media types", () => {
  it("classifies manifests, indexes and configs of both families", () => {
    expect(isManifestMediaType(OciMediaType.ImageManifest)).toBe(true)
    expect(isManifestMediaType(DockerMediaType.Manifest)).toBe(true)
    expect(isManifestMediaType(OciMediaType.ImageIndex)).toBe(false)
    expect(isIndexMediaType(OciMediaType.ImageIndex)).toBe(true)
    expect(isIndexMediaType(DockerMediaType.ManifestList)).toBe(true)
    expect(isIndexMediaType(DockerMediaType.Manifest)).toBe(false)
    expect(isConfigMediaType(DockerMediaType.ImageConfig)).toBe(true)
    expect(isLayerMediaType(OciMediaType.ImageConfig)).toBe(false)
  })

  it("names the compression of every layer type", () => {
    const table: Array<[string, string | undefined]> = [
      ["application/vnd.oci.image.layer.v1.tar", "none"],
      ["application/vnd.oci.image.layer.v1.tar+gzip", "gzip"],
      ["application/vnd.oci.image.layer.v1.tar+zstd", "zstd"],
      ["application/vnd.oci.image.layer.nondistributable.v1.tar", "none"],
      ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"],
      ["application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "zstd"],
      ["application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"],
      ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"],
      ["application/vnd.oci.image.manifest.v1+json", undefined],
      ["toString", undefined]
    ]
    for (const [mt, c] of table) {
      expect([mt, layerCompression(mt)]).toEqual([mt, c])
      expect(isLayerMediaType(mt)).toBe(c !== undefined)
    }
  })

  it("flags non-distributable and foreign layers", () => {
    expect(isNonDistributable(OciMediaType.LayerNonDistributableGzip)).toBe(true)
    expect(isNonDistributable(DockerMediaType.ForeignLayerGzip)).toBe(true)
    expect(isNonDistributable(OciMediaType.LayerGzip)).toBe(false)
  })

  it("maps Docker and OCI media types both ways", () => {
    for (const [docker, oci] of Object.entries(dockerToOciMediaType)) expect(ociToDockerMediaType[oci]).toBe(docker)
    expect(dockerToOciMediaType[DockerMediaType.ForeignLayerGzip]).toBe(OciMediaType.LayerNonDistributableGzip)
  })

  it("carries the well-known empty JSON descriptor", () => {
    const bytes = Buffer.from(EmptyJsonDescriptor.data, "base64")
    expect(bytes.toString()).toBe("{}")
    expect(EmptyJsonDescriptor.size).toBe(bytes.length)
    expect(EmptyJsonDescriptor.digest).toBe(`sha256:${createHash("sha256").update(bytes).digest("hex")}`)
  })
})
