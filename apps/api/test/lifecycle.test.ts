import { rm } from "node:fs/promises"
import { describe, expect, it } from "vitest"
import { createServer } from "../src/server.js"
import { storeOnlyEngine, tempDir } from "./fixtures.js"

describe("createServer lifecycle", () => {
  it("binds 127.0.0.1 by default, closes with an event stream still open, and refuses connections after", async () => {
    const root = await tempDir()
    const server = createServer(await storeOnlyEngine(root))
    const address = await server.listen()
    expect(address.host).toBe("127.0.0.1")
    expect(server.address).toEqual(address)
    const events = await fetch(`${address.url}/events`)
    expect(events.status).toBe(200)
    const reader = (events.body as ReadableStream<Uint8Array>).getReader()
    await reader.read()
    await server.close()
    // the stream ended cleanly rather than hanging the close
    let done = false
    while (!done) done = (await reader.read().catch(() => ({ done: true }))).done
    await expect(fetch(`${address.url}/health`)).rejects.toThrow()
    await rm(root, { recursive: true, force: true })
  })
})
