// Authentication, read-only mode, body limits and upload expiry: the right status and a JSON
// error, and nothing changed in the store.
import { readdir } from "node:fs/promises"
import * as http from "node:http"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { randomBlob, raw, type Running, sha256, startStoreServer } from "./fixtures.js"

const TOKEN = "tok-0123456789"

/** A POST with Expect: 100-continue: the body goes only after the server's 100 Continue. */
const expectContinue = (port: number, path: string, body: Buffer, headers: Record<string, string> = {}) =>
  new Promise<{ continued: boolean; status: number }>((resolve, reject) => {
    let continued = false
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path, agent: false, headers: { ...headers, Expect: "100-continue", "Content-Length": String(body.length) } })
    req.on("continue", () => {
      continued = true
      req.end(body)
    })
    req.on("response", (res) => {
      res.resume()
      res.on("end", () => resolve({ continued, status: res.statusCode ?? 0 }))
      if (!continued) req.destroy()
    })
    req.on("error", reject)
    req.flushHeaders()
  })

describe("bearer token", () => {
  let srv: Running
  beforeAll(async () => {
    srv = await startStoreServer({ token: TOKEN })
  })
  afterAll(() => srv.stop())

  it("answers 401 with a challenge and a JSON error when the token is missing or wrong", async () => {
    for (const headers of [{}, { Authorization: "Bearer nope" }, { Authorization: `Basic ${Buffer.from("u:nope").toString("base64")}` }]) {
      const v2 = await fetch(`${srv.url}/v2/`, { headers })
      expect(v2.status).toBe(401)
      expect(v2.headers.get("www-authenticate")).toMatch(/^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="cairn-api"$/)
      expect(((await v2.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("UNAUTHORIZED")
      const api = await fetch(`${srv.url}/version`, { headers })
      expect(api.status).toBe(401)
      expect(((await api.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED")
    }
  })

  it("checks the token before the query: a parameter given twice is a 401 without it, a JSON 400 with it", async () => {
    const path = "/images/x/export?format=oci-archive&format=docker-archive"
    const anonymous = await fetch(`${srv.url}${path}`)
    expect(anonymous.status).toBe(401)
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED")
    const res = await fetch(`${srv.url}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } })
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe("INVALID_REQUEST")
    expect(body.error.message).toMatch(/format/)
  })

  it("serves /health without the token, saying nothing but ok (a liveness probe)", async () => {
    const res = await fetch(`${srv.url}/health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    const openapi = await fetch(`${srv.url}/openapi.json`, { headers: { Authorization: `Bearer ${TOKEN}` } })
    const doc = (await openapi.json()) as { paths: Record<string, { get?: { security?: unknown[] } }> }
    expect(doc.paths["/health"]?.get?.security).toEqual([])
    expect(doc.paths["/version"]?.get?.security).toBeUndefined()
  })

  it("changes nothing for an unauthenticated push", async () => {
    const data = randomBlob(100)
    const res = await fetch(`${srv.url}/v2/x/blobs/uploads/?digest=${sha256(data)}`, { method: "POST", body: data })
    expect(res.status).toBe(401)
    expect(await srv.engine.store.has(sha256(data))).toBe(false)
    expect(await readdir(join(srv.root, "api-uploads"))).toEqual([])
  })

  it("answers Expect: 100-continue only for an authorised upload", async () => {
    const data = randomBlob(1000)
    const path = `/v2/cont/blobs/uploads/?digest=${sha256(data)}`
    const refused = await expectContinue(srv.port, path, data)
    expect(refused).toEqual({ continued: false, status: 401 })
    const ok = await expectContinue(srv.port, path, data, { Authorization: `Bearer ${TOKEN}` })
    expect(ok).toEqual({ continued: true, status: 201 })
    expect(await srv.engine.store.has(sha256(data))).toBe(true)
  })

  it("accepts the token as bearer or as a Basic password, and trades Basic for a token at /token", async () => {
    expect((await fetch(`${srv.url}/health`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
    const basic = `Basic ${Buffer.from(`me:${TOKEN}`).toString("base64")}`
    expect((await fetch(`${srv.url}/v2/`, { headers: { Authorization: basic } })).status).toBe(200)
    const t = await fetch(`${srv.url}/token?service=cairn-api&scope=repository:x:pull`, { headers: { Authorization: basic } })
    expect(((await t.json()) as { token: string }).token).toBe(TOKEN)
    expect((await fetch(`${srv.url}/token`)).status).toBe(401)
  })
})

describe("read-only mode", () => {
  let srv: Running
  beforeAll(async () => {
    srv = await startStoreServer({ readOnly: true })
  })
  afterAll(() => srv.stop())

  it("refuses every write with 405 on /v2 and 403 on the JSON API, and still serves reads", async () => {
    const data = randomBlob(10)
    const post = await fetch(`${srv.url}/v2/x/blobs/uploads/?digest=${sha256(data)}`, { method: "POST", body: data })
    expect(post.status).toBe(405)
    expect(((await post.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("DENIED")
    expect((await fetch(`${srv.url}/v2/x/manifests/latest`, { method: "PUT", body: "{}", headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })).status).toBe(405)
    expect((await fetch(`${srv.url}/v2/x/manifests/latest`, { method: "DELETE" })).status).toBe(405)
    const gc = await fetch(`${srv.url}/gc`, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })
    expect(gc.status).toBe(403)
    expect(((await gc.json()) as { error: { code: string } }).error.code).toBe("READ_ONLY")
    expect((await fetch(`${srv.url}/containers`, { method: "POST", body: '{"image":"x"}', headers: { "Content-Type": "application/json" } })).status).toBe(403)
    expect(await srv.engine.store.has(sha256(data))).toBe(false)
    expect((await fetch(`${srv.url}/v2/`)).status).toBe(200)
    expect((await fetch(`${srv.url}/health`)).status).toBe(200)
  })
})

describe("limits", () => {
  let srv: Running
  beforeAll(async () => {
    srv = await startStoreServer({ maxJsonBytes: 64, maxManifestBytes: 256, maxBlobBytes: 1000, uploadTimeoutMs: 150, maxUploadSessions: 2 })
  })
  afterAll(() => srv.stop())

  it("refuses bodies over their limit with 413", async () => {
    const json = await fetch(`${srv.url}/gc`, { method: "POST", body: JSON.stringify({ dryRun: true, pad: "x".repeat(200) }), headers: { "Content-Type": "application/json" } })
    expect(json.status).toBe(413)
    expect(((await json.json()) as { error: { code: string } }).error.code).toBe("BODY_TOO_LARGE")
    const big = randomBlob(2000)
    const blob = await fetch(`${srv.url}/v2/x/blobs/uploads/?digest=${sha256(big)}`, { method: "POST", body: big })
    expect(blob.status).toBe(413)
    expect(((await blob.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("SIZE_INVALID")
    expect(await srv.engine.store.has(sha256(big))).toBe(false)
    const manifest = await fetch(`${srv.url}/v2/x/manifests/latest`, { method: "PUT", body: "x".repeat(1000), headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })
    expect(manifest.status).toBe(413)
  })

  it("answers malformed JSON with 400 and a JSON error", async () => {
    const res = await fetch(`${srv.url}/gc`, { method: "POST", body: "{dryRun:", headers: { "Content-Type": "application/json" } })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("MALFORMED_JSON")
    const wrong = await fetch(`${srv.url}/gc`, { method: "POST", body: '{"dryRun":"yes"}', headers: { "Content-Type": "application/json" } })
    expect(wrong.status).toBe(400)
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("INVALID_REQUEST")
  })

  it("expires idle upload sessions and removes their bytes", async () => {
    const start = await fetch(`${srv.url}/v2/x/blobs/uploads/`, { method: "POST" })
    const loc = start.headers.get("location") as string
    expect((await fetch(`${srv.url}${loc}`, { method: "PATCH", body: "abc", headers: { "Content-Type": "application/octet-stream" } })).status).toBe(202)
    expect(await readdir(join(srv.root, "api-uploads"))).toHaveLength(1)
    await new Promise((r) => setTimeout(r, 600))
    const late = await fetch(`${srv.url}${loc}`, { method: "PATCH", body: "def", headers: { "Content-Type": "application/octet-stream" } })
    expect(late.status).toBe(404)
    expect(((await late.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("BLOB_UPLOAD_UNKNOWN")
    expect(await readdir(join(srv.root, "api-uploads"))).toEqual([])
  })

  it("caps open upload sessions with 429", async () => {
    // a server of its own, with sessions that do not expire while the test runs: on the 150 ms
    // one, a slow moment between the requests would free a slot
    const capped = await startStoreServer({ maxUploadSessions: 2 })
    try {
      const a = await fetch(`${capped.url}/v2/cap/blobs/uploads/`, { method: "POST" })
      const b = await fetch(`${capped.url}/v2/cap/blobs/uploads/`, { method: "POST" })
      expect([a.status, b.status]).toEqual([202, 202])
      const c = await fetch(`${capped.url}/v2/cap/blobs/uploads/`, { method: "POST" })
      expect(c.status).toBe(429)
      expect(((await c.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("TOOMANYREQUESTS")
      await fetch(`${capped.url}${a.headers.get("location")}`, { method: "DELETE" })
      await fetch(`${capped.url}${b.headers.get("location")}`, { method: "DELETE" })
      expect(await readdir(join(capped.root, "api-uploads"))).toEqual([])
    } finally {
      await capped.stop()
    }
  })

  it("treats a session idle past the timeout as gone at its next request, before any sweep", async () => {
    // the default timeout (15 min, swept every 30 s): the clock moves, the sweeper does not run
    const idle = await startStoreServer()
    try {
      const start = await fetch(`${idle.url}/v2/x/blobs/uploads/`, { method: "POST" })
      const loc = start.headers.get("location") as string
      expect((await fetch(`${idle.url}${loc}`, { method: "PATCH", body: "abc", headers: { "Content-Type": "application/octet-stream" } })).status).toBe(202)
      vi.useFakeTimers({ toFake: ["Date"] })
      vi.setSystemTime(Date.now() + 16 * 60_000)
      const late = await fetch(`${idle.url}${loc}`, { method: "PATCH", body: "def", headers: { "Content-Type": "application/octet-stream" } })
      expect(late.status).toBe(404)
      expect(((await late.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe("BLOB_UPLOAD_UNKNOWN")
      expect(await readdir(join(idle.root, "api-uploads"))).toEqual([])
    } finally {
      vi.useRealTimers()
      await idle.stop()
    }
  })

  it("answers unknown paths with a JSON 404", async () => {
    const res = await raw(srv.port, "GET", "/nope/../../etc/passwd")
    expect(res.status).toBe(404)
    expect(res.json().error.code).toBe("NOT_FOUND")
  })
})
