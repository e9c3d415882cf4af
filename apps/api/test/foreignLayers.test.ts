// `urls` on a descriptor does not excuse a missing blob: only non-distributable layers (OCI
// nondistributable, Docker foreign) may be absent, and fsck does not report them missing.
import { Store } from "@cairn/cas"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { randomBlob, type Running, sha256, startStoreServer } from "./fixtures.js"

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
const OCI_INDEX = "application/vnd.oci.image.index.v1+json"
const CONFIG = "application/vnd.oci.image.config.v1+json"

let srv: Running
beforeAll(async () => {
  srv = await startStoreServer({ uploadTimeoutMs: 60_000 })
})
afterAll(() => srv.stop())

const pushBlob = async (name: string, data: Uint8Array) => {
  const res = await fetch(`${srv.url}/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, { method: "POST", body: data })
  expect(res.status).toBe(201)
  return sha256(data)
}
const putManifest = (name: string, ref: string, body: string, type: string) =>
  fetch(`${srv.url}/v2/${name}/manifests/${ref}`, { method: "PUT", body, headers: { "Content-Type": type } })
const errorOf = async (res: Response) => ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]

describe("descriptors with urls", () => {
  it("refuses a manifest whose config is missing even though it carries urls", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: CONFIG, digest: sha256(config), size: config.length, urls: ["https://example.invalid/config"] },
      layers: []
    })
    const res = await putManifest("urls/config", "t", body, OCI_MANIFEST)
    expect(res.status).toBe(400)
    const err = await errorOf(res)
    expect(err?.code).toBe("MANIFEST_BLOB_UNKNOWN")
    expect(err?.message).toContain(sha256(config))
  })

  it("refuses an index whose entry is missing even though it carries urls", async () => {
    const child = Buffer.from("{}")
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(child), size: child.length, urls: ["https://example.invalid/m"] }]
    })
    const res = await putManifest("urls/index", "t", body, OCI_INDEX)
    expect(res.status).toBe(400)
    expect((await errorOf(res))?.code).toBe("MANIFEST_BLOB_UNKNOWN")
  })

  it("refuses a missing ordinary layer with urls, accepts an absent non-distributable one; fsck stays clean", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:' + "0".repeat(64) + '"]}}')
    await pushBlob("urls/layer", config)
    const absent = randomBlob(1000)
    const manifest = (mediaType: string) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: CONFIG, digest: sha256(config), size: config.length },
        layers: [{ mediaType, digest: sha256(absent), size: absent.length, urls: ["https://example.invalid/layer"] }]
      })
    const plain = await putManifest("urls/layer", "plain", manifest("application/vnd.oci.image.layer.v1.tar+gzip"), OCI_MANIFEST)
    expect(plain.status).toBe(400)
    expect((await errorOf(plain))?.code).toBe("MANIFEST_BLOB_UNKNOWN")
    const foreign = await putManifest("urls/layer", "foreign", manifest("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"), OCI_MANIFEST)
    expect(foreign.status).toBe(201)
    const report = await (await Store.open(srv.root)).fsck()
    expect(report.missing).toEqual([])
    expect(report.ok).toBe(true)
  })
})
