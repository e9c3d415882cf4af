import { describe, expect, it } from "vitest"
import {
  canonicalJson,
  decodeAnyManifest,
  decodeDockerManifest,
  decodeDockerManifestList,
  decodeManifest,
  descriptorFor,
  DockerMediaType,
  dockerToOciIndex,
  dockerToOciManifest,
  encodeCanonical,
  OciDecodeError,
  OciMediaType,
  ociToDockerIndex,
  ociToDockerManifest,
  selectManifest
} from "../src/index.js"
import { indexExample, manifestExample } from "./specExamples.js"

const h = (c: string) => `sha256:${c.repeat(64)}`

// After the distribution "Image Manifest V2, Schema 2" examples (incl. a foreign layer with urls).
const dockerManifest = {
  schemaVersion: 2,
  mediaType: "application/vnd.docker.distribution.manifest.v2+json",
  config: { mediaType: "application/vnd.docker.container.image.v1+json", size: 7023, digest: h("b") },
  layers: [
    { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 32654, digest: h("1") },
    {
      mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
      size: 16724,
      digest: h("2"),
      urls: ["https://mcr.microsoft.com/v2/windows/blobs/x"]
    }
  ],
  "x-vendor": { kept: true }
}

const dockerList = {
  schemaVersion: 2,
  mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
  manifests: [
    {
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 7143,
      digest: h("e"),
      platform: { architecture: "ppc64le", os: "linux" }
    },
    {
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      size: 7682,
      digest: h("5"),
      platform: { architecture: "amd64", os: "linux", features: ["sse4"] }
    }
  ]
}

describe("Docker documents", () => {
  it("decodes a Docker v2 schema 2 manifest and converts it to OCI and back losslessly", async () => {
    const d = await decodeDockerManifest(JSON.stringify(dockerManifest))
    const oci = dockerToOciManifest(d.value)
    expect(oci.mediaType).toBe(OciMediaType.ImageManifest)
    expect(oci.config.mediaType).toBe(OciMediaType.ImageConfig)
    expect(oci.layers.map((l) => l.mediaType)).toEqual([OciMediaType.LayerGzip, OciMediaType.LayerNonDistributableGzip])
    expect(oci.layers[1]?.urls).toEqual(dockerManifest.layers[1]?.urls)
    expect((oci as Record<string, unknown>)["x-vendor"]).toEqual({ kept: true })
    // the OCI form is a valid OCI manifest
    await decodeManifest(canonicalJson(oci))
    expect(JSON.parse(JSON.stringify(ociToDockerManifest(oci)))).toEqual(dockerManifest)
  })

  it("converts an OCI manifest to Docker and back, keeping subject and annotations", async () => {
    const d = await decodeManifest(JSON.stringify(manifestExample))
    const docker = ociToDockerManifest(d.value)
    expect(docker.mediaType).toBe(DockerMediaType.Manifest)
    expect(docker.layers.every((l) => l.mediaType === DockerMediaType.LayerGzip)).toBe(true)
    await decodeDockerManifest(canonicalJson(docker))
    expect(JSON.parse(JSON.stringify(dockerToOciManifest(docker)))).toEqual(manifestExample)
  })

  it("keeps zstd layers, which have no Docker media type, as they are", async () => {
    const m = structuredClone(manifestExample)
    m.layers[0]!.mediaType = OciMediaType.LayerZstd
    const d = await decodeManifest(JSON.stringify(m))
    expect(ociToDockerManifest(d.value).layers[0]?.mediaType).toBe(OciMediaType.LayerZstd)
  })

  it("decodes a manifest list, selects by platform and converts both ways", async () => {
    const d = await decodeDockerManifestList(JSON.stringify(dockerList))
    expect(selectManifest(d.value, "linux/x86_64").digest).toBe(h("5"))
    const oci = dockerToOciIndex(d.value)
    expect(oci.manifests.every((m) => m.mediaType === OciMediaType.ImageManifest)).toBe(true)
    expect(JSON.parse(JSON.stringify(ociToDockerIndex(oci)))).toEqual(dockerList)
    const back = dockerToOciIndex(ociToDockerIndex((await decodeAnyManifest(JSON.stringify(indexExample))).value as typeof oci))
    expect(JSON.parse(JSON.stringify(back))).toEqual(indexExample)
  })

  it("rejects an OCI manifest decoded as a Docker manifest", async () => {
    await expect(decodeDockerManifest(JSON.stringify(manifestExample))).rejects.toThrow(
      'mediaType: expected "application/vnd.docker.distribution.manifest.v2+json", got "application/vnd.oci.image.manifest.v1+json"'
    )
  })

  it("requires mediaType on Docker manifests", async () => {
    const { mediaType: _, ...bare } = dockerManifest
    const e = await decodeDockerManifest(JSON.stringify(bare)).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(OciDecodeError)
    expect((e as OciDecodeError).path).toBe("mediaType")
  })
})

describe("decodeAnyManifest", () => {
  it("tells the four manifest kinds apart by content type, own mediaType or shape", async () => {
    expect((await decodeAnyManifest(JSON.stringify(dockerManifest))).kind).toBe("docker-manifest")
    expect((await decodeAnyManifest(JSON.stringify(dockerList))).kind).toBe("docker-manifest-list")
    expect((await decodeAnyManifest(JSON.stringify(manifestExample))).kind).toBe("manifest")
    const { mediaType: _, ...bareIndex } = indexExample
    expect((await decodeAnyManifest(JSON.stringify(bareIndex))).kind).toBe("index")
    expect((await decodeAnyManifest(JSON.stringify(bareIndex), OciMediaType.ImageIndex)).kind).toBe("index")
  })
  it("fails when the content type contradicts the document", async () => {
    await expect(decodeAnyManifest(JSON.stringify(indexExample), OciMediaType.ImageManifest)).rejects.toThrow(
      'mediaType: expected "application/vnd.oci.image.manifest.v1+json"'
    )
  })
})

describe("canonical encoding", () => {
  it("sorts keys at every level and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: "x" }, u: undefined })).toBe('{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}')
  })
  it("gives equal documents equal bytes and digests whatever the key order", async () => {
    const a = await encodeCanonical(manifestExample)
    const shuffled = Object.fromEntries(Object.entries(manifestExample).reverse())
    const b = await encodeCanonical(shuffled)
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true)
    expect(a.digest).toBe(b.digest)
    const d = await decodeManifest(a.bytes)
    expect(d.digest).toBe(a.digest)
    expect(a.size).toBe(a.bytes.length)
  })
  it("refuses values JSON cannot carry", () => {
    expect(() => canonicalJson({ size: Number.NaN })).toThrow("size: NaN has no JSON form")
    expect(() => canonicalJson({ a: [1n] })).toThrow("a[0]: a bigint has no JSON form")
  })
  it("builds a descriptor for bytes", async () => {
    const d = await descriptorFor(OciMediaType.Empty, new TextEncoder().encode("{}"), { data: "e30=" })
    expect(d).toEqual({
      mediaType: OciMediaType.Empty,
      digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      size: 2,
      data: "e30="
    })
  })
})
