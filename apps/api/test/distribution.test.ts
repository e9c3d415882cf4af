import { readdir } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { randomBlob, raw, type Running, sha256, startStoreServer } from "./fixtures.js"

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

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

const manifestFor = (config: Uint8Array, layers: Uint8Array[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(l), size: l.length })),
    ...extra
  })

describe("distribution API", () => {
  it("answers GET /v2/ with the API version header", async () => {
    const res = await fetch(`${srv.url}/v2/`)
    expect(res.status).toBe(200)
    expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0")
  })

  it("stores a monolithic upload and serves it with digest, length and ranges", async () => {
    const data = randomBlob(100_000)
    const digest = await pushBlob("a/b", data)
    const head = await fetch(`${srv.url}/v2/a/b/blobs/${digest}`, { method: "HEAD" })
    expect(head.status).toBe(200)
    expect(head.headers.get("content-length")).toBe("100000")
    expect(head.headers.get("docker-content-digest")).toBe(digest)
    const get = await fetch(`${srv.url}/v2/a/b/blobs/${digest}`)
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true)
    const part = await fetch(`${srv.url}/v2/a/b/blobs/${digest}`, { headers: { Range: "bytes=10-19" } })
    expect(part.status).toBe(206)
    expect(part.headers.get("content-range")).toBe("bytes 10-19/100000")
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true)
  })

  it("answers 416 with a JSON error for a range beyond the blob", async () => {
    const data = randomBlob(10)
    const digest = await pushBlob("a/b", data)
    const res = await fetch(`${srv.url}/v2/a/b/blobs/${digest}`, { headers: { Range: "bytes=100-200" } })
    expect(res.status).toBe(416)
    expect(res.headers.get("content-range")).toBe("bytes */10")
    const body = (await res.json()) as { errors: Array<{ code: string }> }
    expect(body.errors[0]?.code).toBe("RANGE_INVALID")
  })

  it("runs a chunked upload with Content-Range checks and makes nothing visible before the digest check", async () => {
    const data = randomBlob(300_000)
    const digest = sha256(data)
    const start = await fetch(`${srv.url}/v2/c/blobs/uploads/`, { method: "POST" })
    expect(start.status).toBe(202)
    const loc = start.headers.get("location") as string
    const p1 = await fetch(`${srv.url}${loc}`, { method: "PATCH", body: data.subarray(0, 100_000), headers: { "Content-Range": "0-99999" } })
    expect(p1.status).toBe(202)
    expect(p1.headers.get("range")).toBe("0-99999")
    // out of order chunk: 416, offset unchanged
    const bad = await fetch(`${srv.url}${loc}`, { method: "PATCH", body: data.subarray(200_000), headers: { "Content-Range": "200000-299999" } })
    expect(bad.status).toBe(416)
    const p2 = await fetch(`${srv.url}${loc}`, { method: "PATCH", body: data.subarray(100_000, 200_000), headers: { "Content-Range": "100000-199999" } })
    expect(p2.status).toBe(202)
    const status = await fetch(`${srv.url}${loc}`)
    expect(status.status).toBe(204)
    expect(status.headers.get("range")).toBe("0-199999")
    expect((await fetch(`${srv.url}/v2/c/blobs/${digest}`, { method: "HEAD" })).status).toBe(404)
    const put = await fetch(`${srv.url}${loc}?digest=${digest}`, { method: "PUT", body: data.subarray(200_000) })
    expect(put.status).toBe(201)
    expect(put.headers.get("docker-content-digest")).toBe(digest)
    const got = Buffer.from(await (await fetch(`${srv.url}/v2/c/blobs/${digest}`)).arrayBuffer())
    expect(got.equals(data)).toBe(true)
    // the session is gone after PUT
    expect((await fetch(`${srv.url}${loc}`)).status).toBe(404)
  })

  it("rejects an upload whose bytes do not match ?digest= and stores nothing", async () => {
    const data = randomBlob(5000)
    const wrong = sha256("something else")
    const res = await fetch(`${srv.url}/v2/d/blobs/uploads/?digest=${wrong}`, { method: "POST", body: data })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("DIGEST_INVALID")
    expect(await srv.engine.store.has(wrong)).toBe(false)
    expect(await srv.engine.store.has(sha256(data))).toBe(false)
    // the chunked path too
    const start = await fetch(`${srv.url}/v2/d/blobs/uploads/`, { method: "POST" })
    const loc = start.headers.get("location") as string
    await fetch(`${srv.url}${loc}`, { method: "PATCH", body: data })
    const put = await fetch(`${srv.url}${loc}?digest=${wrong}`, { method: "PUT" })
    expect(put.status).toBe(400)
    expect(await srv.engine.store.has(sha256(data))).toBe(false)
    expect(await readdir(join(srv.root, "api-uploads"))).toEqual([])
  })

  it("mounts a blob it holds across repositories", async () => {
    const data = randomBlob(64)
    const digest = await pushBlob("from/repo", data)
    const res = await fetch(`${srv.url}/v2/to/repo/blobs/uploads/?mount=${digest}&from=from/repo`, { method: "POST" })
    expect(res.status).toBe(201)
    expect(res.headers.get("location")).toBe(`/v2/to/repo/blobs/${digest}`)
    const missing = await fetch(`${srv.url}/v2/to/repo/blobs/uploads/?mount=${sha256("nope")}&from=from/repo`, { method: "POST" })
    expect(missing.status).toBe(202)
  })

  it("pushes a manifest by tag, serves it by tag and digest, lists tags and deletes", async () => {
    const config = Buffer.from("{}")
    const layer = randomBlob(1000)
    await pushBlob("app", config)
    await pushBlob("app", layer)
    const manifest = manifestFor(config, [layer])
    const put = await fetch(`${srv.url}/v2/app/manifests/v1`, { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } })
    expect(put.status).toBe(201)
    const digest = sha256(manifest)
    expect(put.headers.get("docker-content-digest")).toBe(digest)
    for (const ref of ["v1", digest]) {
      const head = await fetch(`${srv.url}/v2/app/manifests/${ref}`, { method: "HEAD" })
      expect(head.status).toBe(200)
      expect(head.headers.get("content-type")).toBe(OCI_MANIFEST)
      expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(manifest)))
      expect(head.headers.get("docker-content-digest")).toBe(digest)
      const get = await fetch(`${srv.url}/v2/app/manifests/${ref}`)
      expect(await get.text()).toBe(manifest)
    }
    // tagged in index.json as name:tag, the engine's naming
    expect((await srv.engine.store.resolve("app:v1")).digest).toBe(digest)
    for (const t of ["v2", "v3", "a"]) {
      expect((await fetch(`${srv.url}/v2/app/manifests/${t}`, { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } })).status).toBe(201)
    }
    const all = (await (await fetch(`${srv.url}/v2/app/tags/list`)).json()) as { tags: string[] }
    expect(all.tags).toEqual(["a", "v1", "v2", "v3"])
    const page = await fetch(`${srv.url}/v2/app/tags/list?n=2`)
    expect(((await page.json()) as { tags: string[] }).tags).toEqual(["a", "v1"])
    expect(page.headers.get("link")).toBe('</v2/app/tags/list?n=2&last=v1>; rel="next"')
    const page2 = (await (await fetch(`${srv.url}/v2/app/tags/list?n=2&last=v1`)).json()) as { tags: string[] }
    expect(page2.tags).toEqual(["v2", "v3"])
    const catalog = (await (await fetch(`${srv.url}/v2/_catalog`)).json()) as { repositories: string[] }
    expect(catalog.repositories).toContain("app")
    expect((await fetch(`${srv.url}/v2/app/manifests/a`, { method: "DELETE" })).status).toBe(202)
    expect((await fetch(`${srv.url}/v2/app/manifests/a`)).status).toBe(404)
  })

  it("refuses a manifest whose blobs are missing or which does not decode", async () => {
    const config = Buffer.from('{"x":1}')
    const manifest = manifestFor(config, [])
    const res = await fetch(`${srv.url}/v2/bad/manifests/t`, { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("MANIFEST_BLOB_UNKNOWN")
    const junk = await fetch(`${srv.url}/v2/bad/manifests/t`, { method: "PUT", body: "{not json", headers: { "Content-Type": OCI_MANIFEST } })
    expect(junk.status).toBe(400)
    expect(((await junk.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("MANIFEST_INVALID")
    expect(await srv.engine.store.has(sha256(manifest))).toBe(false)
    expect((await srv.engine.store.tags()).some((t) => t.name.startsWith("bad:"))).toBe(false)
  })

  it("lists referrers of a subject, filtered by artifactType", async () => {
    const config = Buffer.from("{}")
    const layer = randomBlob(10)
    await pushBlob("ref", config)
    await pushBlob("ref", layer)
    const subject = manifestFor(config, [layer])
    await fetch(`${srv.url}/v2/ref/manifests/latest`, { method: "PUT", body: subject, headers: { "Content-Type": OCI_MANIFEST } })
    const sig = manifestFor(config, [layer], {
      artifactType: "application/vnd.example.sig",
      subject: { mediaType: OCI_MANIFEST, digest: sha256(subject), size: Buffer.byteLength(subject) }
    })
    const put = await fetch(`${srv.url}/v2/ref/manifests/${sha256(sig)}`, { method: "PUT", body: sig, headers: { "Content-Type": OCI_MANIFEST } })
    expect(put.status).toBe(201)
    expect(put.headers.get("oci-subject")).toBe(sha256(subject))
    const res = await fetch(`${srv.url}/v2/ref/referrers/${sha256(subject)}`)
    expect(res.headers.get("content-type")).toContain("application/vnd.oci.image.index.v1+json")
    const index = (await res.json()) as { manifests: Array<{ digest: string; artifactType: string }> }
    expect(index.manifests.map((m) => m.digest)).toEqual([sha256(sig)])
    expect(index.manifests[0]?.artifactType).toBe("application/vnd.example.sig")
    const filtered = await fetch(`${srv.url}/v2/ref/referrers/${sha256(subject)}?artifactType=application/other`)
    expect(filtered.headers.get("oci-filters-applied")).toBe("artifactType")
    expect(((await filtered.json()) as { manifests: unknown[] }).manifests).toEqual([])
  })

  it("rejects path traversal in repository names, plain and encoded", async () => {
    const before = await readdir(srv.root)
    for (const path of [
      "/v2/../../etc/manifests/x",
      "/v2/%2e%2e/%2e%2e/etc/manifests/x",
      "/v2/a/..%2f..%2fetc/manifests/latest",
      "/v2/a/%2e%2e/blobs/uploads/",
      "/v2/UPPER/manifests/latest"
    ]) {
      const res = await raw(srv.port, path.endsWith("uploads/") ? "POST" : "GET", path)
      expect([400, 404], path).toContain(res.status)
      expect(res.json().errors[0].code, path).toMatch(/NAME_INVALID|NAME_UNKNOWN|MANIFEST_UNKNOWN/)
    }
    expect(await readdir(srv.root)).toEqual(before)
  })

  it("rejects unknown upload ids without touching the filesystem", async () => {
    const res = await raw(srv.port, "PATCH", "/v2/a/blobs/uploads/..%2f..%2fetc", {}, "x")
    expect(res.status).toBe(404)
    expect(res.json().errors[0].code).toBe("BLOB_UPLOAD_UNKNOWN")
  })

  it("takes a whole blob in the closing PUT of a session", async () => {
    const data = randomBlob(3000)
    const start = await fetch(`${srv.url}/v2/e/blobs/uploads/`, { method: "POST" })
    const loc = start.headers.get("location") as string
    const put = await fetch(`${srv.url}${loc}?digest=${sha256(data)}`, { method: "PUT", body: data })
    expect(put.status).toBe(201)
    expect(await srv.engine.store.has(sha256(data))).toBe(true)
  })

  it("pushes an image index after its manifests and refuses one whose children are missing", async () => {
    const config = Buffer.from('{"a":1}')
    await pushBlob("multi", config)
    const child = manifestFor(config, [])
    const childDigest = sha256(child)
    expect((await fetch(`${srv.url}/v2/multi/manifests/${childDigest}`, { method: "PUT", body: child, headers: { "Content-Type": OCI_MANIFEST } })).status).toBe(201)
    const INDEX = "application/vnd.oci.image.index.v1+json"
    const index = (children: string[]) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: INDEX,
        manifests: children.map((d) => ({ mediaType: OCI_MANIFEST, digest: d, size: Buffer.byteLength(child), platform: { architecture: "amd64", os: "linux" } }))
      })
    const missing = await fetch(`${srv.url}/v2/multi/manifests/all`, { method: "PUT", body: index([sha256("absent")]), headers: { "Content-Type": INDEX } })
    expect(missing.status).toBe(400)
    expect(((await missing.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("MANIFEST_BLOB_UNKNOWN")
    const ok = await fetch(`${srv.url}/v2/multi/manifests/all`, { method: "PUT", body: index([childDigest]), headers: { "Content-Type": INDEX } })
    expect(ok.status).toBe(201)
    const head = await fetch(`${srv.url}/v2/multi/manifests/all`, { method: "HEAD" })
    expect(head.headers.get("content-type")).toBe(INDEX)
    // a digest in the URL that the bytes do not hash to
    const wrong = await fetch(`${srv.url}/v2/multi/manifests/${sha256("x")}`, { method: "PUT", body: child, headers: { "Content-Type": OCI_MANIFEST } })
    expect(wrong.status).toBe(400)
    expect(((await wrong.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("DIGEST_INVALID")
  })

  it("exempts only non-distributable layers with urls from the existence check (#14 item 8)", async () => {
    const urls = ["https://example.invalid/blob"]
    const errorOf = async (res: Response) => ((await res.json()) as { errors: Array<{ code: string; message: string; detail: { digest: string } }> }).errors[0]
    // a config with urls is still a config: it must be here
    const absentConfig = Buffer.from('{"absent":"config"}')
    const m1 = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(absentConfig), size: absentConfig.length, urls },
      layers: []
    })
    const r1 = await fetch(`${srv.url}/v2/urls/manifests/cfg`, { method: "PUT", body: m1, headers: { "Content-Type": OCI_MANIFEST } })
    expect(r1.status).toBe(400)
    const e1 = await errorOf(r1)
    expect(e1?.code).toBe("MANIFEST_BLOB_UNKNOWN")
    expect(e1?.detail.digest).toBe(sha256(absentConfig))
    expect(e1?.message).toContain(`config ${sha256(absentConfig)}`)
    expect(await srv.engine.store.has(sha256(m1))).toBe(false)
    // an index whose missing child manifest has urls
    const INDEX = "application/vnd.oci.image.index.v1+json"
    const absentChild = sha256("absent child manifest")
    const idx = JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: absentChild, size: 100, urls }] })
    const r2 = await fetch(`${srv.url}/v2/urls/manifests/idx`, { method: "PUT", body: idx, headers: { "Content-Type": INDEX } })
    expect(r2.status).toBe(400)
    const e2 = await errorOf(r2)
    expect(e2?.code).toBe("MANIFEST_BLOB_UNKNOWN")
    expect(e2?.detail.digest).toBe(absentChild)
    // a plain layer with urls is not foreign either
    const config = Buffer.from('{"urls":"test"}')
    await pushBlob("urls", config)
    const plain = randomBlob(64)
    const layerWithUrls = (mediaType: string, blob: Uint8Array) => ({ mediaType, digest: sha256(blob), size: blob.length, urls })
    const m3 = manifestFor(config, [], { layers: [layerWithUrls("application/vnd.oci.image.layer.v1.tar", plain)] })
    expect((await fetch(`${srv.url}/v2/urls/manifests/plain`, { method: "PUT", body: m3, headers: { "Content-Type": OCI_MANIFEST } })).status).toBe(400)
    // absent foreign layers with urls (OCI non-distributable and docker foreign) are accepted, and fsck is clean
    const foreignOci = randomBlob(128)
    const foreignDocker = randomBlob(96)
    const m4 = manifestFor(config, [], {
      layers: [
        layerWithUrls("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", foreignOci),
        layerWithUrls("application/vnd.docker.image.rootfs.foreign.diff.tar", foreignDocker)
      ]
    })
    expect((await fetch(`${srv.url}/v2/urls/manifests/foreign`, { method: "PUT", body: m4, headers: { "Content-Type": OCI_MANIFEST } })).status).toBe(201)
    const report = await srv.engine.store.fsck({ quarantine: true })
    expect(report.missing).toEqual([])
    expect(report.corrupt).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.foreign.map((f) => f.digest).sort()).toEqual([sha256(foreignOci), sha256(foreignDocker)].sort())
    expect((await fetch(`${srv.url}/v2/urls/manifests/foreign`, { method: "HEAD" })).status).toBe(200)
  })

  it("deletes every tag of a repository naming a digest, and only those", async () => {
    const config = Buffer.from('{"del":1}')
    await pushBlob("del", config)
    const m = manifestFor(config, [])
    for (const ref of ["del:a", "del:b", "other:a"]) {
      const [name, tag] = ref.split(":")
      expect((await fetch(`${srv.url}/v2/${name}/manifests/${tag}`, { method: "PUT", body: m, headers: { "Content-Type": OCI_MANIFEST } })).status).toBe(201)
    }
    expect((await fetch(`${srv.url}/v2/del/manifests/${sha256(m)}`, { method: "DELETE" })).status).toBe(202)
    expect((await fetch(`${srv.url}/v2/del/tags/list`)).status).toBe(404)
    expect((await fetch(`${srv.url}/v2/other/manifests/a`, { method: "HEAD" })).status).toBe(200)
    expect((await fetch(`${srv.url}/v2/del/manifests/${sha256(m)}`, { method: "DELETE" })).status).toBe(404)
  })

  it("answers NAME_UNKNOWN for the tags of a repository it does not have", async () => {
    const res = await fetch(`${srv.url}/v2/never/pushed/tags/list`)
    expect(res.status).toBe(404)
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("NAME_UNKNOWN")
  })
})
