// The tag -> status table: every engine tag has a status a client can act on, the table gives the
// statuses the regex it replaced gave, and real failures through a real server get them.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { statusByTag, statusOfTag } from "../src/errorStatus.js"
import { type EngineServer, startEngineServer } from "./engineFixture.js"

describe("statusByTag", () => {
  it("maps every tag to a status of 400, 404, 409, 422 (a failed build step), 500 or 503", () => {
    const entries = Object.entries(statusByTag)
    expect(entries.length).toBeGreaterThan(60)
    for (const [tag, status] of entries) expect([400, 404, 409, 422, 500, 503], tag).toContain(status)
  })
  it("keeps the statuses clients already see", () => {
    expect(statusByTag.ImageNotFoundError).toBe(404)
    expect(statusByTag.ContainerNotFoundError).toBe(404)
    expect(statusByTag.ContainerMountedError).toBe(409)
    expect(statusByTag.ImageInUseError).toBe(409)
    expect(statusByTag.IngestBusyError).toBe(409)
    expect(statusByTag.InvalidReferenceError).toBe(400)
    expect(statusByTag.UnsafeArchivePathError).toBe(400)
    expect(statusByTag.LockTimeoutError).toBe(503)
    expect(statusByTag.EngineIOError).toBe(500)
  })
  it("answers 500 for a tag outside the table, including Object.prototype names", () => {
    expect(statusOfTag("InternalError")).toBe(500)
    expect(statusOfTag("toString")).toBe(500)
    expect(statusOfTag("constructor")).toBe(500)
  })
})

describe("statuses through a real server", () => {
  let srv: EngineServer
  beforeAll(async () => {
    srv = await startEngineServer()
  })
  afterAll(async () => {
    await srv?.stop()
  })
  const get = async (path: string, method = "GET") => {
    const res = await fetch(`${srv.url}${path}`, { method })
    return { status: res.status, body: (await res.json()) as { error?: { code?: string } } }
  }
  it("answers a missing image with 404 ImageNotFoundError", async () => {
    const r = await get(`/images/${encodeURIComponent("nothing-here:latest")}`)
    expect(r.status).toBe(404)
    expect(r.body.error?.code).toBe("ImageNotFoundError")
  })
  it("answers a missing container with 404 ContainerNotFoundError", async () => {
    const r = await get("/containers/no-such-container/diff")
    expect(r.status).toBe(404)
    expect(r.body.error?.code).toBe("ContainerNotFoundError")
  })
})
