// cairn's own registry client (@cairn/registry) pushing into the service and pulling back out,
// store to store, with the token.
import { rm } from "node:fs/promises"
import { join } from "node:path"
import { Store } from "@cairn/cas"
import type { Digest } from "@cairn/digest"
import { pullImage, pushImage, RegistryClient, staticCredentials } from "@cairn/registry"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildImage, haveTools } from "./engineFixture.js"
import { type Running, startStoreServer, tempDir } from "./fixtures.js"

if (!haveTools) console.warn("skipping registry client tests: umoci is not installed (apt-get install -y umoci)")

const TOKEN = "client-token"

describe.skipIf(!haveTools)("@cairn/registry against cairn-api", () => {
  let srv: Running
  let work: string
  let image: { layout: string; manifestDigest: string }
  beforeAll(async () => {
    work = await tempDir()
    image = await buildImage(work)
    srv = await startStoreServer({ token: TOKEN })
  })
  afterAll(async () => {
    await srv?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("pushes an image from one store and pulls it into another", async () => {
    const host = `127.0.0.1:${srv.port}`
    const client = new RegistryClient({ plainHttp: true, credentials: staticCredentials({ [host]: { username: "cairn", password: TOKEN } }) })
    try {
      const source = await Store.open(image.layout)
      const pushed = await pushImage(client, source, image.manifestDigest as Digest, `${host}/client/img:v1`)
      expect(pushed.digest).toBe(image.manifestDigest)
      expect((await srv.engine.store.resolve("client/img:v1")).digest).toBe(image.manifestDigest)
      // a second push finds every blob there already
      const again = await pushImage(client, source, image.manifestDigest as Digest, `${host}/client/img:v2`)
      expect(again.digest).toBe(image.manifestDigest)

      const dest = await Store.open(join(work, "dest"))
      const pulled = await pullImage(client, `${host}/client/img:v1`, dest)
      expect(pulled.digest).toBe(image.manifestDigest)
      for (const b of pulled.blobs) expect(await dest.has(b.descriptor.digest)).toBe(true)
    } finally {
      client.close()
    }
  })

  it("is refused without credentials", async () => {
    const host = `127.0.0.1:${srv.port}`
    const client = new RegistryClient({ plainHttp: true, credentials: staticCredentials({}) })
    try {
      const dest = await Store.open(join(work, "dest-anon"))
      await expect(pullImage(client, `${host}/client/img:v1`, dest)).rejects.toThrow()
    } finally {
      client.close()
    }
  })
})
