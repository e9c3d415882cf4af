
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  AuthError,
  copyImage,
  pullImage,
  pushImage,
  Registry,
  RegistryClient,
  RegistryError,
  referrersTag,
  staticCredentials
} from "../src/index.js"
import { DirSink } from "./support/dirSink.js"
import { layerTar, makeImage, randomFile, sha256 } from "./support/image.js"
import { haveHtpasswd, haveRegistry, type RunningRegistry, startRegistry } from "./support/registryServer.js"
import { tempDirs } from "./support/tempDirs.js"

if (!haveRegistry) console.warn("skipping registry tests: /usr/bin/docker-registry is missing (apt-get install docker-registry)")

const noCreds = staticCredentials({})
const tempDir = tempDirs("cairn-reg-test-")

describe.skipIf(!haveRegistry)("against docker-registry", () => {
  let reg: RunningRegistry
  let client: RegistryClient
  beforeAll(async () => {
    reg = await startRegistry()
    client = new RegistryClient({ credentials: noCreds })
  })
  afterAll(async () => {
    client?.close()
    await reg?.stop()
  })

  it("pushes an image and pulls it back byte for byte", async () => {
    const img = makeImage([{ "etc/hello.txt": "hello\n", "bin/tool": randomFile(200_000) }, { "etc/hello.txt": "bye\n" }])
    const pushed = await pushImage(client, img.source, img.manifest.digest, `${reg.host}/test/app:v1`)
    expect(pushed.digest).toBe(img.manifest.digest)
    expect(pushed.blobs.map((b) => b.how).sort()).toEqual(["uploaded", "uploaded", "uploaded"])

    const sink = new DirSink(tempDir())
    const completed: string[] = []
    const progress = new Map<string, number>()
    let announced = 0
    const pulled = await pullImage(client, `${reg.host}/test/app:v1`, sink, {
      onResolved: (r) => {
        announced = r.image.layers.length
      },
      onBlobComplete: (d) => {
        completed.push(d.digest)
      },
      onProgress: (p) => progress.set(p.digest, p.bytes)
    })
    expect(pulled.digest).toBe(img.manifest.digest)
    expect(announced).toBe(2)
    for (const d of [img.config, ...img.layers]) {
      expect(sink.read(d.digest).equals(img.source.blobs.get(d.digest)!)).toBe(true)
      expect(progress.get(d.digest)).toBe(d.size)
    }
    expect(sink.read(img.manifest.digest).equals(img.manifestBytes)).toBe(true)
    expect(completed.sort()).toEqual([img.config.digest, ...img.layers.map((l) => l.digest)].sort())
    expect(pulled.bytesTransferred).toBe(img.config.size + img.layers.reduce((n, l) => n + l.size, 0))

    // a second pull moves no blob bytes, and pushing again uploads nothing
    const again = await pullImage(client, `${reg.host}/test/app:v1`, sink)
    expect(again.bytesTransferred).toBe(0)
    expect(again.blobs.every((b) => b.skipped)).toBe(true)
    const repush = await pushImage(client, img.source, img.manifest.digest, `${reg.host}/test/app:v1`)
    expect(repush.blobs.every((b) => b.how === "exists")).toBe(true)
  })

  it("pulls by digest and verifies the manifest bytes against it", async () => {
    const img = makeImage([{ a: "1" }])
    await pushImage(client, img.source, img.manifest.digest, `${reg.host}/test/bydigest:t`)
    const m = await client.getManifest(`${reg.host}/test/bydigest@${img.manifest.digest}`)
    expect(Buffer.from(m.bytes).equals(img.manifestBytes)).toBe(true)
    expect(m.digest).toBe(img.manifest.digest)
    const head = await client.headManifest(`${reg.host}/test/bydigest:t`)
    expect(head?.digest).toBe(img.manifest.digest)
    await expect(client.getManifest(`${reg.host}/test/bydigest:nope`)).rejects.toMatchObject({
      _tag: "RegistryError",
      status: 404,
      code: "MANIFEST_UNKNOWN"
    })
  })

  it("mounts a blob from another repository instead of uploading it", async () => {
    const img = makeImage([{ "big.bin": randomFile(100_000) }])
    await pushImage(client, img.source, img.manifest.digest, `${reg.host}/team/base:1`)
    const r = await pushImage(client, img.source, img.manifest.digest, `${reg.host}/team/derived:1`, { mountFrom: ["team/base"] })
    expect(r.blobs.map((b) => b.how)).toEqual(["mounted", "mounted"])
    expect(await client.statBlob(`${reg.host}/team/derived`, img.layers[0]!.digest)).toEqual({ size: img.layers[0]!.size })
  })

  it("uploads in PATCH chunks and the registry assembles the exact blob", async () => {
    const data = randomFile(1_000_000 + 17)
    const src = makeImage([{ "x.bin": data }])
    const layer = src.layers[0]!
    const r = await client.pushBlob(`${reg.host}/chunked/blob`, layer, () => src.source.open(layer.digest), { chunkSize: 256 * 1024 })
    expect(r.how).toBe("uploaded")
    const sink = new DirSink(tempDir())
    await client.pullBlob(`${reg.host}/chunked/blob`, layer, sink)
    expect(sink.read(layer.digest).equals(src.source.blobs.get(layer.digest)!)).toBe(true)
  })

  it("lists tags across Link-paginated pages", async () => {
    const img = makeImage([{ t: "tags" }])
    const tags = ["a", "b", "c", "d", "e"]
    for (const t of tags) await pushImage(client, img.source, img.manifest.digest, `${reg.host}/paged/repo:${t}`)
    // pages of 2: without following Link only 2 would come back
    const listed = await client.listTags(`${reg.host}/paged/repo`, { pageSize: 2 })
    expect([...listed].sort()).toEqual(tags)
  })

  it("keeps and reads the referrers fallback tag when the registry has no referrers API", async () => {
    const img = makeImage([{ r: "subject" }])
    const repo = `${reg.host}/refs/app`
    await pushImage(client, img.source, img.manifest.digest, `${repo}:1`)
    expect((await client.referrers(repo, img.manifest.digest)).manifests).toEqual([])
    const empty = img.source.add(Buffer.from("{}"), "application/vnd.oci.empty.v1+json")
    await client.pushBlob(repo, empty, () => img.source.open(empty.digest))
    const artifact = (artifactType: string) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          artifactType,
          config: empty,
          layers: [empty],
          subject: img.manifest
        })
      )
    const sig = await client.putManifest({ registry: reg.host, repository: "refs/app", digest: sha256(artifact("application/x-sig")) }, { bytes: artifact("application/x-sig"), mediaType: "application/vnd.oci.image.manifest.v1+json" })
    const sbom = await client.putManifest({ registry: reg.host, repository: "refs/app", digest: sha256(artifact("application/x-sbom")) }, { bytes: artifact("application/x-sbom"), mediaType: "application/vnd.oci.image.manifest.v1+json" })
    expect(await client.listTags(repo)).toContain(referrersTag(img.manifest.digest))
    const all = await client.referrers(repo, img.manifest.digest)
    expect(all.manifests.map((m) => [m.digest, m.artifactType])).toEqual([
      [sig, "application/x-sig"],
      [sbom, "application/x-sbom"]
    ])
    const filtered = await client.referrers(repo, img.manifest.digest, { artifactType: "application/x-sbom" })
    expect(filtered.manifests.map((m) => m.digest)).toEqual([sbom])
  })

  it("picks the requested platform from an index", async () => {
    const amd = makeImage([{ arch: "amd64" }], { arch: "amd64" })
    const arm = makeImage([{ arch: "arm64" }], { arch: "arm64", source: amd.source })
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          { ...amd.manifest, platform: { os: "linux", architecture: "amd64" } },
          { ...arm.manifest, platform: { os: "linux", architecture: "arm64", variant: "v8" } }
        ]
      })
    )
    const idx = amd.source.add(index, "application/vnd.oci.image.index.v1+json")
    const pushed = await pushImage(client, amd.source, idx.digest, `${reg.host}/multi/app:latest`)
    expect(pushed.manifests).toEqual([amd.manifest.digest, arm.manifest.digest, idx.digest])
    const sink = new DirSink(tempDir())
    const r = await pullImage(client, `${reg.host}/multi/app`, sink, { platform: "linux/arm64" })
    expect(r.digest).toBe(idx.digest)
    expect(r.resolved.manifest.digest).toBe(arm.manifest.digest)
    expect(await sink.has(arm.layers[0]!.digest)).toBe(true)
    expect(await sink.has(amd.layers[0]!.digest)).toBe(false)
    expect(await sink.has(idx.digest)).toBe(true)
    await expect(pullImage(client, `${reg.host}/multi/app`, sink, { platform: "linux/s390x" })).rejects.toMatchObject({
      _tag: "NoMatchingPlatformError"
    })
  })

  it("works as an Effect service with typed failures", async () => {
    const img = makeImage([{ eff: "1" }])
    const program = Effect.gen(function* () {
      const registry = yield* Registry
      yield* registry.push(img.source, img.manifest.digest, `${reg.host}/effect/app:1`)
      const tags = yield* registry.listTags(`${reg.host}/effect/app`)
      const stat = yield* registry.statBlob(`${reg.host}/effect/app`, img.layers[0]!.digest)
      const sink = new DirSink(tempDir())
      const blob = yield* registry.pullBlob(`${reg.host}/effect/app`, img.layers[0]!, sink)
      expect(stat).toEqual({ size: img.layers[0]!.size })
      expect(blob).toEqual({ skipped: false, transferred: img.layers[0]!.size, resumedFrom: 0 })
      const missing = yield* registry.getManifest(`${reg.host}/effect/app:missing`).pipe(
        Effect.catchTag("RegistryError", (e) => Effect.succeed(e.status))
      )
      return { tags, missing }
    })
    const out = await Effect.runPromise(program.pipe(Effect.provide(Registry.layer({ credentials: noCreds }))))
    expect(out).toEqual({ tags: ["1"], missing: 404 })
    void Layer
  })

  it("copies an index and all its images to another registry, and mounts within one registry", async () => {
    const other = await startRegistry()
    try {
      const amd = makeImage([{ copy: "amd64" }], { arch: "amd64" })
      const arm = makeImage([{ copy: "arm64" }], { arch: "arm64", source: amd.source })
      const idx = amd.source.add(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: "application/vnd.oci.image.index.v1+json",
            manifests: [
              { ...amd.manifest, platform: { os: "linux", architecture: "amd64" } },
              { ...arm.manifest, platform: { os: "linux", architecture: "arm64" } }
            ]
          })
        ),
        "application/vnd.oci.image.index.v1+json"
      )
      await pushImage(client, amd.source, idx.digest, `${reg.host}/copy/src:1`)
      const across = await copyImage(client, `${reg.host}/copy/src:1`, `${other.host}/copy/dst:2`)
      expect(across.digest).toBe(idx.digest)
      expect(across.blobs.map((b) => b.how)).toEqual(["uploaded", "uploaded", "uploaded", "uploaded"])
      const m = await client.getManifest(`${other.host}/copy/dst:2`)
      expect(m.digest).toBe(idx.digest)
      const sink = new DirSink(tempDir())
      await pullImage(client, `${other.host}/copy/dst:2`, sink, { platform: "linux/arm64" })
      expect(sink.read(arm.layers[0]!.digest).equals(amd.source.blobs.get(arm.layers[0]!.digest)!)).toBe(true)

      const within = await copyImage(client, `${reg.host}/copy/src:1`, `${reg.host}/copy/mounted:1`)
      expect(within.blobs.map((b) => b.how)).toEqual(["mounted", "mounted", "mounted", "mounted"])
      expect((await client.getManifest(`${reg.host}/copy/mounted:1`)).digest).toBe(idx.digest)
    } finally {
      await other.stop()
    }
  })

  it("streams a layer tar that GNU tar reads back", async () => {
    const { gz } = layerTar({ "usr/share/doc/readme": "layer\n" })
    expect(gz.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(true)
  })
})

describe.skipIf(!haveRegistry || !haveHtpasswd)("htpasswd basic auth", () => {
  let reg: RunningRegistry
  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user: "alice", password: "s3cret" } })
  })
  afterAll(async () => {
    await reg?.stop()
  })

  it("pushes and pulls with username and password", async () => {
    const client = new RegistryClient({ credentials: staticCredentials({ [reg.host]: { username: "alice", password: "s3cret" } }) })
    try {
      const img = makeImage([{ auth: "basic" }])
      await pushImage(client, img.source, img.manifest.digest, `${reg.host}/private/app:1`)
      const sink = new DirSink(tempDir())
      const r = await pullImage(client, `${reg.host}/private/app:1`, sink)
      expect(r.digest).toBe(img.manifest.digest)
    } finally {
      client.close()
    }
  })

  it("fails with AuthError for a wrong password and for none", async () => {
    const wrong = new RegistryClient({ credentials: staticCredentials({ [reg.host]: { username: "alice", password: "nope" } }) })
    const none = new RegistryClient({ credentials: noCreds })
    try {
      const e1 = await wrong.getManifest(`${reg.host}/private/app:1`).catch((e) => e)
      expect(e1).toBeInstanceOf(AuthError)
      expect(e1.message).toMatch(/rejected/)
      const e2 = await none.getManifest(`${reg.host}/private/app:1`).catch((e) => e)
      expect(e2).toBeInstanceOf(AuthError)
      expect(e2.message).toMatch(/no credentials/)
      expect(e2).not.toBeInstanceOf(RegistryError)
    } finally {
      wrong.close()
      none.close()
    }
  })
})
