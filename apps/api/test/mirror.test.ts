// The pull-through cache with real parts on loopback: docker-registry upstream, cairn-api mirror,
// skopeo as the client. One upstream fetch per blob however many clients; cached content served
// (and marked stale) when the upstream is down; pushes refused; eviction under a size bound keeps
// the store fsck-clean and local tags whole.
import { randomBytes } from "node:crypto"
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises"
import * as http from "node:http"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Store } from "@cairn/cas"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exec, haveTools } from "./engineFixture.js"
import { raw, type Running, startStoreServer, tempDir } from "./fixtures.js"
import { haveRegistry, startUpstream, type Upstream } from "./upstream.js"

const ready = haveTools && haveRegistry
if (!ready) console.warn("skipping mirror tests: skopeo, umoci or docker-registry is not installed")

/** An umoci image with two layers, one of them `bigBytes` of random data. */
const buildImage = async (dir: string, bigBytes: number) => {
  const layout = join(dir, "layout")
  const bundle = join(dir, "bundle")
  await exec("umoci", ["init", "--layout", layout])
  await exec("umoci", ["new", "--image", `${layout}:latest`])
  for (const [i, data] of [randomBytes(bigBytes), Buffer.from(`small ${dir}\n`)].entries()) {
    await exec("umoci", ["unpack", "--image", `${layout}:latest`, bundle])
    await mkdir(join(bundle, "rootfs", "data"), { recursive: true })
    await writeFile(join(bundle, "rootfs", "data", `f${i}`), data)
    await exec("umoci", ["repack", "--image", `${layout}:latest`, bundle])
    await rm(bundle, { recursive: true, force: true })
  }
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
  const manifestDigest = index.manifests[0]?.digest as string
  const manifest = JSON.parse(await readFile(join(layout, "blobs", "sha256", manifestDigest.slice(7)), "utf8")) as { config: { digest: string }; layers: Array<{ digest: string }> }
  return { layout, manifestDigest, blobs: [manifest.config.digest, ...manifest.layers.map((l) => l.digest)] }
}

const pullInto = (host: string, ref: string, dest: string) => exec("skopeo", ["copy", "--src-tls-verify=false", `docker://${host}/${ref}`, `oci:${dest}:x`])

describe.skipIf(!ready)("cairn-api --mirror in front of docker-registry", () => {
  let upstream: Upstream
  let mirror: Running
  let work: string
  let image: Awaited<ReturnType<typeof buildImage>>
  beforeAll(async () => {
    work = await tempDir()
    // #18: 8 clients, one image of at least 200 MB (CAIRN_STRESS=0: 8 MB, for a quick local run)
    image = await buildImage(join(work, "a"), process.env.CAIRN_STRESS === "0" ? 8 << 20 : 200 << 20)
    upstream = await startUpstream()
    await exec("skopeo", ["copy", "--dest-tls-verify=false", `oci:${image.layout}:latest`, `docker://${upstream.host}/lib/app:v1`])
    mirror = await startStoreServer({ mirror: { upstreams: [upstream.host], ttlMs: 0 } })
  }, 120_000)
  afterAll(async () => {
    await mirror?.stop()
    await upstream?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("8 concurrent pulls through a cold mirror fetch each blob from the upstream once, and all verify", async () => {
    const before = upstream.blobGets()
    const host = `127.0.0.1:${mirror.port}`
    const dests = Array.from({ length: 8 }, (_, i) => join(work, `pull-${i}`))
    await Promise.all(dests.map((d) => pullInto(host, "lib/app:v1", d)))
    const after = upstream.blobGets()
    for (const b of image.blobs) expect(`${b} ${(after.get(b) ?? 0) - (before.get(b) ?? 0)}`).toBe(`${b} 1`)
    for (const d of dests) {
      const index = JSON.parse(await readFile(join(d, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
      expect(index.manifests[0]?.digest).toBe(image.manifestDigest)
      for (const b of image.blobs) {
        const want = await readFile(join(image.layout, "blobs", "sha256", b.slice(7)))
        expect((await readFile(join(d, "blobs", "sha256", b.slice(7)))).equals(want)).toBe(true)
      }
    }
    // mirrored content is held by leases, not tags: the user's tag list stays empty
    expect(await mirror.engine.store.tags()).toEqual([])
    expect((await (mirror.engine.store as Store).fsck()).ok).toBe(true)
  }, 180_000)

  it("serves `cairn pull` from the warm mirror without asking the upstream for blobs", async () => {
    const before = upstream.blobGets()
    const root = join(work, "cairn-root")
    const cli = fileURLToPath(new URL("../../cli/bin/cairn.js", import.meta.url))
    await exec(process.execPath, [cli, "--root", root, "pull", `127.0.0.1:${mirror.port}/lib/app:v1`])
    const tags = await (await Store.open(root)).tags()
    expect(tags.map((t) => t.descriptor.digest)).toContain(image.manifestDigest)
    expect([...upstream.blobGets()]).toEqual([...before])
  }, 120_000)

  it("cuts the response and stores nothing when the upstream sends bytes that do not match the digest", async () => {
    // a proxy in front of docker-registry that flips one byte of every blob body
    const proxy = http.createServer((req, res) => {
      const [h, p] = upstream.host.split(":")
      const up = http.request({ host: h, port: Number(p), method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers)
        let first = /\/blobs\/sha256:/.test(req.url ?? "")
        ur.on("data", (c: Buffer) => {
          if (first && c.length > 0) {
            c[0] = (c[0] as number) ^ 0xff
            first = false
          }
          res.write(c)
        })
        ur.on("end", () => res.end())
      })
      req.pipe(up)
    })
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r))
    const port = (proxy.address() as { port: number }).port
    const bad = await startStoreServer({ mirror: { upstreams: [`127.0.0.1:${port}`] } })
    try {
      const big = image.blobs[1] as string
      await expect(raw(bad.port, "GET", `/v2/lib/app/blobs/${big}`)).rejects.toThrow()
      expect(await bad.engine.store.has(big as never)).toBe(false)
      // clients that joined the same fetch (streamed its bytes) are all cut too
      const joined = await Promise.allSettled(Array.from({ length: 4 }, () => raw(bad.port, "GET", `/v2/lib/app/blobs/${big}`)))
      expect(joined.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "rejected"])
      expect(await bad.engine.store.has(big as never)).toBe(false)
      expect(await readdir(join(bad.root, "ingest")).catch(() => [])).toEqual([])
      // and a follow-up request is refused the same way, not served a half-written blob
      await expect(raw(bad.port, "GET", `/v2/lib/app/blobs/${big}`)).rejects.toThrow()
      expect(await bad.engine.store.has(big as never)).toBe(false)
    } finally {
      await bad.stop()
      await new Promise((r) => proxy.close(r))
    }
  }, 60_000)

  it("refuses pushes with a message naming the upstream", async () => {
    const r = await raw(mirror.port, "POST", "/v2/lib/app/blobs/uploads/")
    expect(r.status).toBe(405)
    expect(r.json().errors[0].code).toBe("UNSUPPORTED")
    expect(r.json().errors[0].message).toContain(upstream.host)
  })

  it("with forwardPush relays a skopeo push to the upstream, storing nothing itself", async () => {
    const fwd = await startStoreServer({ mirror: { upstreams: [upstream.host], forwardPush: true } })
    try {
      await exec("skopeo", ["copy", "--dest-tls-verify=false", `oci:${image.layout}:latest`, `docker://127.0.0.1:${fwd.port}/lib/pushed:v2`])
      expect(await fwd.engine.store.has(image.blobs[1] as never)).toBe(false)
      const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${upstream.host}/lib/pushed:v2`])
      expect(JSON.parse(stdout).layers.map((l: { digest: string }) => l.digest)).toEqual(image.blobs.slice(1))
    } finally {
      await fwd.stop()
    }
  }, 120_000)

  it("with the upstream down serves what it has, marked stale, and a clear 502 for the rest", async () => {
    await upstream.stop()
    const host = `127.0.0.1:${mirror.port}`
    const r = await raw(mirror.port, "GET", "/v2/lib/app/manifests/v1", { accept: "application/vnd.oci.image.manifest.v1+json" })
    expect(r.status).toBe(200)
    expect(r.headers["x-cairn-mirror"]).toBe("stale")
    expect(r.headers.warning).toContain("110")
    expect(r.headers["docker-content-digest"]).toBe(image.manifestDigest)
    await pullInto(host, "lib/app:v1", join(work, "offline"))
    const missing = await raw(mirror.port, "GET", "/v2/lib/other/manifests/v1")
    expect(missing.status).toBe(502)
    expect(missing.json().errors[0].message).toMatch(/not cached and the upstream .* could not be reached/)
    const blob = await raw(mirror.port, "GET", `/v2/lib/app/blobs/sha256:${"0".repeat(64)}`)
    expect(blob.status).toBe(502)
  }, 120_000)
})

describe.skipIf(!ready)("mirror eviction and upstream auth", () => {
  let upstream: Upstream
  let work: string
  beforeAll(async () => {
    work = await tempDir()
    upstream = await startUpstream({ user: "fleet", password: "fleet-pass" })
  }, 60_000)
  afterAll(async () => {
    await upstream?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("pulls through htpasswd auth from the auth file, and evicts LRU content without touching a local tag", async () => {
    const creds = ["--dest-creds", "fleet:fleet-pass"]
    const a = await buildImage(join(work, "a"), 1 << 20)
    const b = await buildImage(join(work, "b"), 1 << 20)
    const local = await buildImage(join(work, "local"), 64 << 10)
    await exec("skopeo", ["copy", "--dest-tls-verify=false", ...creds, `oci:${a.layout}:latest`, `docker://${upstream.host}/lib/a:v1`])
    await exec("skopeo", ["copy", "--dest-tls-verify=false", ...creds, `oci:${b.layout}:latest`, `docker://${upstream.host}/lib/b:v1`])
    const authFile = join(work, "auth.json")
    await writeFile(authFile, JSON.stringify({ auths: { [upstream.host]: { auth: Buffer.from("fleet:fleet-pass").toString("base64") } } }))
    const { authFileCredentials } = await import("@cairn/registry")
    const mirror = await startStoreServer({ mirror: { upstreams: [upstream.host], maxBytes: 1536 << 10, client: { credentials: authFileCredentials([authFile]) } } })
    try {
      // a locally tagged image, written to the store directly (a mirror takes no pushes)
      const store = mirror.engine.store as Store
      for (const d of [...local.blobs, local.manifestDigest]) {
        const bytes = await readFile(join(local.layout, "blobs", "sha256", d.slice(7)))
        await store.put({ digest: d as never, size: bytes.length }, bytes)
      }
      const mbytes = await readFile(join(local.layout, "blobs", "sha256", local.manifestDigest.slice(7)))
      await store.tag("local/img:v1", { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: local.manifestDigest, size: mbytes.length } as never)
      const localTag = await store.resolve("local/img:v1")
      expect(localTag.digest).toBe(local.manifestDigest)
      const host = `127.0.0.1:${mirror.port}`
      await pullInto(host, "lib/a:v1", join(work, "pa"))
      await pullInto(host, "lib/b:v1", join(work, "pb"))
      // the pull that went over the bound ends after the eviction it started
      expect(await store.has(a.blobs[1] as never)).toBe(false)
      for (const d of [local.manifestDigest, ...local.blobs]) expect(await store.has(d as never)).toBe(true)
      const report = await store.fsck()
      expect(report.ok).toBe(true)
      // evicted content comes back from the upstream on the next pull
      await pullInto(host, "lib/a:v1", join(work, "pa2"))
    } finally {
      await mirror.stop()
    }
  }, 180_000)
})
