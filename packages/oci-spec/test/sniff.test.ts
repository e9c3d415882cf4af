import { describe, expect, it } from "vitest"
import { OciMediaType, sniffManifest } from "../src/index.js"

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))

describe("sniffManifest", () => {
  it("tells manifests and indexes by their own field, else by shape, with referrer facts", () => {
    expect(sniffManifest(bytes({ schemaVersion: 2, manifests: [] }))).toEqual({ mediaType: OciMediaType.ImageIndex })
    const subject = `sha256:${"a".repeat(64)}`
    expect(
      sniffManifest(bytes({ schemaVersion: 2, config: { mediaType: "application/x-sbom" }, layers: [], subject: { digest: subject }, annotations: { a: "b" } }))
    ).toEqual({ mediaType: OciMediaType.ImageManifest, artifactType: "application/x-sbom", subject, annotations: { a: "b" } })
    expect(sniffManifest(bytes({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", manifests: [] }))?.mediaType).toBe(
      "application/vnd.docker.distribution.manifest.list.v2+json"
    )
  })

  it("answers undefined for anything else: a config, a layer, another schema version", () => {
    expect(sniffManifest(bytes({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }))).toBeUndefined()
    expect(sniffManifest(new Uint8Array([0x1f, 0x8b, 8, 0]))).toBeUndefined()
    expect(sniffManifest(bytes({ schemaVersion: 1, manifests: [] }))).toBeUndefined()
    expect(sniffManifest(bytes({ schemaVersion: 2, mediaType: "application/vnd.oci.image.config.v1+json" }))).toBeUndefined()
  })
})
