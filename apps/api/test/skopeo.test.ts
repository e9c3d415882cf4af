// Real clients against a real listening server: skopeo pushes an umoci-built image in and
// pulls it back out, with and without the bearer token.
import { readFile, rm } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildImage, exec, haveTools } from "./engineFixture.js"
import { type Running, startStoreServer, tempDir } from "./fixtures.js"

if (!haveTools) console.warn("skipping skopeo tests: skopeo or umoci is not installed (apt-get install -y skopeo umoci)")

const TOKEN = "s3cret-token-for-tests"

describe.skipIf(!haveTools)("skopeo against cairn-api", () => {
  let open: Running
  let locked: Running
  let work: string
  let image: { layout: string; manifestDigest: string }
  beforeAll(async () => {
    work = await tempDir()
    image = await buildImage(work)
    open = await startStoreServer()
    locked = await startStoreServer({ token: TOKEN })
  })
  afterAll(async () => {
    await open?.stop()
    await locked?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("pushes an image with skopeo copy and pulls it back byte for byte", async () => {
    const host = `127.0.0.1:${open.port}`
    await exec("skopeo", ["copy", "--dest-tls-verify=false", `oci:${image.layout}:latest`, `docker://${host}/test/img:v1`])
    expect((await open.engine.store.resolve("test/img:v1")).digest).toBe(image.manifestDigest)
    const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${host}/test/img:v1`])
    const pulled = join(work, "pulled")
    await exec("skopeo", ["copy", "--src-tls-verify=false", `docker://${host}/test/img:v1`, `oci:${pulled}:v1`])
    const index = JSON.parse(await readFile(join(pulled, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
    expect(index.manifests[0]?.digest).toBe(image.manifestDigest)
    const manifest = JSON.parse(stdout) as { layers: Array<{ digest: string }> }
    for (const l of manifest.layers) {
      const a = await readFile(join(image.layout, "blobs", "sha256", l.digest.slice(7)))
      const b = await readFile(join(pulled, "blobs", "sha256", l.digest.slice(7)))
      expect(b.equals(a)).toBe(true)
    }
    const { stdout: tags } = await exec("skopeo", ["list-tags", "--tls-verify=false", `docker://${host}/test/img`])
    expect(JSON.parse(tags).Tags).toEqual(["v1"])
  })

  it("needs the token when one is configured: refused without, accepted as bearer or Basic password", async () => {
    const host = `127.0.0.1:${locked.port}`
    await expect(exec("skopeo", ["copy", "--dest-tls-verify=false", `oci:${image.layout}:latest`, `docker://${host}/locked/img:v1`])).rejects.toThrow()
    expect((await locked.engine.store.tags()).length).toBe(0)
    await exec("skopeo", ["copy", "--dest-tls-verify=false", "--dest-registry-token", TOKEN, `oci:${image.layout}:latest`, `docker://${host}/locked/img:v1`])
    expect((await locked.engine.store.resolve("locked/img:v1")).digest).toBe(image.manifestDigest)
    const pulled = join(work, "pulled-locked")
    await exec("skopeo", ["copy", "--src-tls-verify=false", "--src-creds", `anyone:${TOKEN}`, `docker://${host}/locked/img:v1`, `oci:${pulled}:v1`])
    const index = JSON.parse(await readFile(join(pulled, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
    expect(index.manifests[0]?.digest).toBe(image.manifestDigest)
    await expect(
      exec("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", "anyone:wrong", `docker://${host}/locked/img:v1`])
    ).rejects.toThrow()
  })

  it("takes a Docker v2 schema 2 push and serves it with its media type", async () => {
    const host = `127.0.0.1:${open.port}`
    await exec("skopeo", ["copy", "--dest-tls-verify=false", "--format", "v2s2", `oci:${image.layout}:latest`, `docker://${host}/test/docker:v1`])
    const head = await fetch(`http://${host}/v2/test/docker/manifests/v1`, { method: "HEAD" })
    expect(head.headers.get("content-type")).toBe("application/vnd.docker.distribution.manifest.v2+json")
    const pulled = join(work, "pulled-docker")
    await exec("skopeo", ["copy", "--src-tls-verify=false", `docker://${host}/test/docker:v1`, `dir:${pulled}`])
    const manifest = JSON.parse(await readFile(join(pulled, "manifest.json"), "utf8")) as { mediaType: string }
    expect(manifest.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json")
  })
})
