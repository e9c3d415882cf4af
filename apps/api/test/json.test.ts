// The JSON endpoints over a real engine, over HTTP: import by upload, inspect, tag, export,
// containers (mount, diff, commit), space and maintenance, events, OpenAPI; bad requests leave
// the engine unchanged.
import { createReadStream } from "node:fs"
import { readFile, rm, stat, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Readable } from "node:stream"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { buildImage, type EngineServer, exec, haveTools, startEngineServer } from "./engineFixture.js"
import { tempDir } from "./fixtures.js"

if (!haveTools) console.warn("skipping JSON API tests: skopeo or umoci is not installed (apt-get install -y skopeo umoci)")

const enc = encodeURIComponent

describe.skipIf(!haveTools)("JSON API over a real engine", () => {
  let srv: EngineServer
  let work: string
  let archive: string
  let image: { layout: string; manifestDigest: string }
  let events = ""
  let stopEvents: AbortController
  beforeAll(async () => {
    work = await tempDir()
    image = await buildImage(work)
    archive = join(work, "image.tar")
    await exec("skopeo", ["copy", `oci:${image.layout}:latest`, `oci-archive:${archive}`])
    srv = await startEngineServer()
    stopEvents = new AbortController()
    const res = await fetch(`${srv.url}/events`, { signal: stopEvents.signal })
    expect(res.headers.get("content-type")).toBe("text/event-stream")
    void (async () => {
      const dec = new TextDecoder()
      try {
        for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) events += dec.decode(c)
      } catch {}
    })()
  })
  afterAll(async () => {
    stopEvents?.abort()
    await srv?.stop()
    await rm(work, { recursive: true, force: true })
  })

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${srv.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body), headers: { "Content-Type": "application/json" } })
    })
    const text = await res.text()
    return { status: res.status, body: text === "" ? undefined : JSON.parse(text) }
  }

  it("imports an oci-archive upload, lists, inspects and shows history", async () => {
    const body = Readable.toWeb(createReadStream(archive)) as ReadableStream
    const res = await fetch(`${srv.url}/images/import?format=oci-archive&name=demo:1`, { method: "POST", body, duplex: "half" } as RequestInit)
    const summary = (await res.json()) as { digest: string; names: string[]; layers: number }
    expect(res.status).toBe(201)
    expect(summary.digest).toBe(image.manifestDigest)
    expect(summary.names).toContain("demo:1")
    expect(summary.layers).toBe(2)
    const list = await api("GET", "/images")
    expect(list.body.map((i: { digest: string }) => i.digest)).toContain(image.manifestDigest)
    const inspect = await api("GET", `/images/${enc("demo:1")}`)
    expect(inspect.status).toBe(200)
    expect(inspect.body.layers).toHaveLength(2)
    const history = await api("GET", `/images/${enc("demo:1")}/history`)
    expect(history.status).toBe(200)
    expect(history.body.length).toBeGreaterThanOrEqual(2)
    // the same store serves the registry API
    const head = await fetch(`${srv.url}/v2/demo/manifests/1`, { method: "HEAD" })
    expect(head.headers.get("docker-content-digest")).toBe(image.manifestDigest)
  })

  it("imports a docker-archive upload and exports one back", async () => {
    const tar = join(work, "docker.tar")
    await exec("skopeo", ["copy", `oci:${image.layout}:latest`, `docker-archive:${tar}:dock/app:1`])
    const res = await fetch(`${srv.url}/images/import?format=docker-archive&name=dock/app:1`, { method: "POST", body: await readFile(tar) })
    expect(res.status).toBe(201)
    const summary = (await res.json()) as { names: string[]; layers: number }
    expect(summary.names).toContain("dock/app:1")
    expect(summary.layers).toBe(2)
    const out = await fetch(`${srv.url}/images/${enc("dock/app:1")}/export?format=docker-archive`)
    expect(out.status).toBe(200)
    const file = join(work, "docker-out.tar")
    await writeFile(file, Buffer.from(await out.arrayBuffer()))
    const { stdout } = await exec("skopeo", ["inspect", `docker-archive:${file}`])
    expect(JSON.parse(stdout).Layers).toHaveLength(2)
  })

  it("tags, exports and removes images", async () => {
    expect((await api("POST", `/images/${enc("demo:1")}/tag`, { name: "demo:2" })).status).toBe(204)
    expect((await api("GET", "/images")).body.flatMap((i: { names: string[] }) => i.names)).toContain("demo:2")
    // names with "/" and ":" travel URL-encoded in one path segment
    expect((await api("POST", `/images/${enc("demo:1")}/tag`, { name: "lib/demo:1" })).status).toBe(204)
    expect((await api("GET", `/images/${enc("lib/demo:1")}`)).body.digest).toBe(image.manifestDigest)
    const res = await fetch(`${srv.url}/images/${enc("demo:2")}/export?format=oci-archive`)
    expect(res.status).toBe(200)
    const out = join(work, "exported.tar")
    await writeFile(out, Buffer.from(await res.arrayBuffer()))
    // written into the response as it is made: chunked, no length known up front
    expect(res.headers.get("transfer-encoding")).toBe("chunked")
    expect((await stat(out)).size).toBeGreaterThan(0)
    const { stdout } = await exec("skopeo", ["inspect", "--raw", `oci-archive:${out}`])
    expect(JSON.parse(stdout).layers).toHaveLength(2)
    const removed = await api("DELETE", `/images/${enc("demo:2")}`)
    expect(removed.status).toBe(200)
    expect(removed.body.untagged).toContain("demo:2")
    expect((await api("GET", `/images/${enc("demo:2")}`)).status).toBe(404)
  })

  it("creates, mounts, diffs, commits, unmounts and removes a container", async () => {
    const created = await api("POST", "/containers", { image: "demo:1", name: "c1" })
    expect(created.status).toBe(201)
    expect(created.body.name).toBe("c1")
    const mounted = await api("POST", "/containers/c1/mount")
    expect(mounted.status).toBe(200)
    const mp = mounted.body.mountpoint as string
    expect(await readFile(join(mp, "data", "f0.txt"), "utf8")).toBe("first layer\n")
    await writeFile(join(mp, "new.txt"), "new\n")
    const diff = await api("GET", "/containers/c1/diff")
    expect(diff.body).toContainEqual({ kind: "A", path: "/new.txt" })
    const committed = await api("POST", "/containers/c1/commit", { name: "demo:committed", message: "via api" })
    expect(committed.status).toBe(201)
    expect(committed.body.layers).toBe(3)
    expect((await api("POST", "/containers/c1/unmount")).status).toBe(204)
    expect((await api("GET", "/containers")).body.map((c: { name?: string }) => c.name)).toContain("c1")
    expect((await api("DELETE", "/containers/c1")).status).toBe(204)
    expect((await api("GET", "/containers")).body).toEqual([])
  })

  it("reports disk usage, snapshots, gc, fsck, health, version and OpenAPI", async () => {
    const df = await api("GET", "/df")
    expect(df.status).toBe(200)
    expect(Array.isArray(df.body.images)).toBe(true)
    const snaps = await api("GET", "/snapshots")
    expect(snaps.body.length).toBeGreaterThanOrEqual(2)
    expect((await api("POST", "/gc", { dryRun: true })).status).toBe(200)
    const fsck = await api("GET", "/fsck")
    expect(fsck.body.ok).toBe(true)
    expect((await api("GET", "/health")).body.ok).toBe(true)
    expect((await api("GET", "/version")).body.name).toBe("cairn-api")
    const doc = await api("GET", "/openapi.json")
    expect(doc.body.openapi).toBe("3.1.0")
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(["/images", "/images/{image}", "/containers/{id}/commit", "/df", "/events"]))
    expect(doc.body.paths["/containers"].post.requestBody.content["application/json"].schema.required).toEqual(["image"])
  })

  it("streams progress events to /events", async () => {
    // the earlier tests' events: waited for as they arrive on the stream
    await vi.waitFor(
      () => {
        expect(events).toContain("event: progress")
        // lifecycle events arrive too: the container the earlier test created, by id and name
        expect(events).toMatch(/event: lifecycle\ndata: \{"type":"container\.created","id":"[0-9a-f]{64}","name":"c1"\}/)
      },
      { timeout: 10_000, interval: 20 }
    )
    // progress events are never relabelled as lifecycle events
    expect(events).not.toMatch(/event: lifecycle\ndata: [^\n]*"phase"/)
  })

  it("sees an image pushed through /v2 as a local image the engine can run containers from", async () => {
    await exec("skopeo", ["copy", "--dest-tls-verify=false", `oci:${image.layout}:latest`, `docker://127.0.0.1:${srv.port}/pushed/app:v1`])
    const inspect = await api("GET", `/images/${enc("pushed/app:v1")}`)
    expect(inspect.status).toBe(200)
    expect(inspect.body.digest).toBe(image.manifestDigest)
    const created = await api("POST", "/containers", { image: "pushed/app:v1", name: "from-push" })
    expect(created.status).toBe(201)
    const mounted = await api("POST", "/containers/from-push/mount")
    expect(await readFile(join(mounted.body.mountpoint, "data", "f1.txt"), "utf8")).toBe("second layer\n")
    expect((await api("DELETE", "/containers/from-push?force=1")).status).toBe(204)
  })

  it("answers bad requests with 400/404 JSON errors and changes nothing", async () => {
    const before = await api("GET", "/containers")
    const malformed = await api("POST", "/containers", "{image:")
    expect(malformed.status).toBe(400)
    expect(malformed.body.error.code).toBe("MALFORMED_JSON")
    const missing = await api("POST", "/containers", { name: "x" })
    expect(missing.status).toBe(400)
    expect(missing.body.error.code).toBe("INVALID_REQUEST")
    const unknown = await api("POST", "/containers", { image: "no-such-image" })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.message).toMatch(/no-such-image/)
    expect((await api("GET", "/containers")).body).toEqual(before.body)
    // container and image arguments that try to walk out of the root
    for (const path of [`/containers/${enc("../../etc")}/mount`, `/images/${enc("../../../etc/passwd")}`]) {
      const res = await api(path.endsWith("mount") ? "POST" : "GET", path)
      expect([400, 404], path).toContain(res.status)
      expect(typeof res.body.error.message).toBe("string")
    }
    const bad = await fetch(`${srv.url}/images/import?format=zip`, { method: "POST", body: "x", headers: { "Content-Type": "application/x-tar" } })
    expect(bad.status).toBe(400)
    const junk = await fetch(`${srv.url}/images/import?format=oci-archive&name=junk:1`, { method: "POST", body: "not a tar", headers: { "Content-Type": "application/x-tar" } })
    expect(junk.status).toBe(400)
    expect(((await junk.json()) as { error: { message: string } }).error.message.length).toBeGreaterThan(0)
    expect((await api("GET", "/images")).body.flatMap((i: { names: string[] }) => i.names)).not.toContain("junk:1")
  })
})
