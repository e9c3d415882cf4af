// Issue #14 over a real engine: GC during a push (blobs are held by a lease until their manifest
// arrives) and error bodies without server paths.
import { readdir, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { gzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildImage, type EngineServer, exec, haveTools, startEngineServer } from "./engineFixture.js"
import { randomBlob, sha256, tempDir } from "./fixtures.js"

const json = { "Content-Type": "application/json" }
const octets = { "Content-Type": "application/octet-stream" }

const gc = async (url: string) => {
  const res = await fetch(`${url}/gc`, { method: "POST", body: "{}", headers: json })
  expect(res.status).toBe(200)
  return (await res.json()) as { removed: string[] }
}

const manifestFor = (config: Buffer, layer: Buffer) =>
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length }]
  })

describe("GC while pushing", () => {
  let srv: EngineServer
  beforeAll(async () => {
    srv = await startEngineServer()
  })
  afterAll(() => srv?.stop())

  it("keeps pushed blobs until their manifest arrives, then lets the tag hold them", async () => {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }))
    const layer = randomBlob(4096)
    // one monolithic upload, one chunked session
    expect((await fetch(`${srv.url}/v2/gc/app/blobs/uploads/?digest=${sha256(config)}`, { method: "POST", body: config, headers: octets })).status).toBe(201)
    const start = await fetch(`${srv.url}/v2/gc/app/blobs/uploads/`, { method: "POST" })
    const loc = start.headers.get("location") as string
    expect((await fetch(`${srv.url}${loc}`, { method: "PATCH", body: layer, headers: octets })).status).toBe(202)
    expect((await fetch(`${srv.url}${loc}?digest=${sha256(layer)}`, { method: "PUT" })).status).toBe(201)

    const swept = await gc(srv.url)
    expect(swept.removed).not.toContain(sha256(layer))
    const put = await fetch(`${srv.url}/v2/gc/app/manifests/v1`, { method: "PUT", body: manifestFor(config, layer), headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })
    expect(put.status).toBe(201)
    // the leases are gone once the manifest references the blobs; the tag keeps them now
    expect((await srv.engine.store.leases()).filter((l) => l.id.startsWith("api-push-"))).toEqual([])
    await gc(srv.url)
    expect(await srv.engine.store.has(sha256(layer))).toBe(true)
    expect(await srv.engine.store.has(sha256(config))).toBe(true)
  })

  it("holds a manifest pushed by digest (an index's child) until its index arrives", async () => {
    const config = Buffer.from('{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
    const layer = randomBlob(1024)
    for (const b of [config, layer]) expect((await fetch(`${srv.url}/v2/gc/multi/blobs/uploads/?digest=${sha256(b)}`, { method: "POST", body: b, headers: octets })).status).toBe(201)
    const child = manifestFor(config, layer)
    const childType = "application/vnd.oci.image.manifest.v1+json"
    expect((await fetch(`${srv.url}/v2/gc/multi/manifests/${sha256(child)}`, { method: "PUT", body: child, headers: { "Content-Type": childType } })).status).toBe(201)
    await gc(srv.url)
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: childType, digest: sha256(child), size: Buffer.byteLength(child), platform: { architecture: "arm64", os: "linux" } }]
    })
    const put = await fetch(`${srv.url}/v2/gc/multi/manifests/all`, { method: "PUT", body: index, headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" } })
    expect(put.status).toBe(201)
    await gc(srv.url)
    for (const d of [sha256(child), sha256(config), sha256(layer)]) expect(await srv.engine.store.has(d)).toBe(true)
  })

  it("lets GC take a pushed blob whose grace period passed without a manifest", async () => {
    const short = await startEngineServer({ uploadGraceMs: 1 })
    try {
      const orphan = randomBlob(100)
      expect((await fetch(`${short.url}/v2/o/blobs/uploads/?digest=${sha256(orphan)}`, { method: "POST", body: orphan, headers: octets })).status).toBe(201)
      await expect.poll(async () => (await short.engine.store.leases()).length).toBe(0)
      expect((await gc(short.url)).removed).toContain(sha256(orphan))
    } finally {
      await short.stop()
    }
  })
})

if (!haveTools) console.warn("skipping engine error-body tests: skopeo or umoci is not installed (apt-get install -y skopeo umoci)")

describe.skipIf(!haveTools)("errors name the user's input, never a server path", () => {
  let srv: EngineServer
  let work: string
  let archive: Buffer
  beforeAll(async () => {
    work = await tempDir()
    const image = await buildImage(work)
    const file = join(work, "image.tar")
    await exec("skopeo", ["copy", `oci:${image.layout}:latest`, `oci-archive:${file}`])
    archive = await readFile(file)
    srv = await startEngineServer()
  })
  afterAll(async () => {
    await srv?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("answers a truncated archive with 400 naming the upload, without the root or a temp path", async () => {
    const res = await fetch(`${srv.url}/images/import?format=oci-archive&name=cut:1`, {
      method: "POST",
      body: archive.subarray(0, Math.floor(archive.length / 2) + 3),
      headers: { "Content-Type": "application/x-tar" }
    })
    const text = await res.text()
    expect(res.status).toBe(400)
    expect(JSON.parse(text).error.code).toBe("INVALID_ARCHIVE")
    expect(text).toContain("uploaded oci-archive")
    expect(text).not.toContain(srv.root)
    expect(text).not.toContain(tmpdir())
  })

  it("imports a gzip-compressed upload (application/gzip), gunzipped as it streams in", async () => {
    const res = await fetch(`${srv.url}/images/import?format=oci-archive&name=zipped:1`, {
      method: "POST",
      body: gzipSync(archive),
      headers: { "Content-Type": "application/gzip" }
    })
    expect(res.status, await res.clone().text()).toBe(201)
    expect(((await res.json()) as { names: Array<string> }).names).toEqual(["zipped:1"])
    expect((await srv.engine.inspectImage("zipped:1")).layers.length).toBeGreaterThan(0)
  })

  it("streams an upload into the store and stops one that passes the import limit mid-way: 413, nothing stored, no staged bytes", async () => {
    const small = await startEngineServer({ maxImportBytes: Math.floor(archive.length / 2) })
    try {
      // chunked (no Content-Length): the limit is found while the archive streams in
      const body = Readable.toWeb(Readable.from([archive.subarray(0, 4096), archive.subarray(4096)])) as ReadableStream
      const res = await fetch(`${small.url}/images/import?format=oci-archive&name=big:1`, { method: "POST", body, duplex: "half", headers: { "Content-Type": "application/x-tar" } } as RequestInit)
      expect(res.status).toBe(413)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("BODY_TOO_LARGE")
      expect(await small.engine.listImages()).toEqual([])
      expect(await readdir(join(small.root, "ingest")).catch(() => [])).toEqual([])
    } finally {
      await small.stop()
    }
  })
})
