// registries.conf mirrors against real docker-registry instances on 127.0.0.1: a counting proxy in
// front of each shows which one a pull really hit.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  authFileCredentials,
  BlockedRegistryError,
  loadRegistriesConf,
  parseRegistriesConf,
  pullImage,
  pushImage,
  RegistriesConfError,
  RegistryClient,
  RegistryError,
  staticCredentials
} from "../src/index.js"
import { DirSink } from "./support/dirSink.js"
import { type FaultProxy, startFaultProxy } from "./support/faultProxy.js"
import { makeImage, randomFile } from "./support/image.js"
import { freePort, haveHtpasswd, haveRegistry, type RunningRegistry, startRegistry } from "./support/registryServer.js"
import { tempDirs } from "./support/tempDirs.js"

if (!haveRegistry) console.warn("skipping mirror tests: /usr/bin/docker-registry is missing (apt-get install docker-registry)")

const noCreds = staticCredentials({})
const tempDir = tempDirs("cairn-mirror-test-")

const gets = (p: FaultProxy, what: "manifests" | "blobs") => p.seen.filter((s) => s.method === "GET" && s.path.includes(`/${what}/`))

describe("parseRegistriesConf", () => {
  it("reads the v2 subset with defaults", () => {
    const conf = parseRegistriesConf(`
[[registry]]
prefix = "docker.io/library"
location = "upstream.example:5000/lib"
[[registry.mirror]]
location = "mirror.local:5000/lib"
insecure = true
[[registry.mirror]]
location = "m2.local"
pull-from-mirror = "digest-only"
`)
    expect(conf.registries).toEqual([
      {
        prefix: "docker.io/library",
        location: "upstream.example:5000/lib",
        insecure: false,
        blocked: false,
        mirrors: [
          { location: "mirror.local:5000/lib", insecure: true, pullFromMirror: "all" },
          { location: "m2.local", insecure: false, pullFromMirror: "digest-only" }
        ]
      }
    ])
  })

  it("names the line of a TOML error and the key of a wrong value", () => {
    const bad = () => parseRegistriesConf('[[registry]]\nprefix = "a"\nlocation = \n', "/etc/x.conf")
    expect(bad).toThrow(RegistriesConfError)
    expect(bad).toThrow(/\/etc\/x\.conf line 3/)
    expect(() => parseRegistriesConf('[[registry]]\nprefix = "a"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "sometimes"\n')).toThrow(
      /pull-from-mirror is "sometimes"; expected "all", "digest-only" or "tag-only"/
    )
    expect(() => parseRegistriesConf('[[registry]]\nprefix = "a"\nmirrors = []\n')).toThrow(/unknown key "mirrors" in \[\[registry\]\] #1/)
    expect(() => parseRegistriesConf('[[registry]]\nprefix = "a"\ninsecure = "yes"\n')).toThrow(/insecure must be true or false/)
  })

  it("treats a missing optional file as empty and a missing required one as an error", () => {
    const dir = tempDir()
    expect(loadRegistriesConf(join(dir, "none.conf"), { optional: true }).registries).toEqual([])
    expect(() => loadRegistriesConf(join(dir, "none.conf"))).toThrow(RegistriesConfError)
  })
})

describe.skipIf(!haveRegistry)("mirrors against docker-registry", () => {
  let upstream: RunningRegistry
  let mirror: RunningRegistry
  let up: FaultProxy
  let mir: FaultProxy
  const img = makeImage([{ "a.txt": "hello" }, { "big.bin": randomFile(300_000) }])
  const plain = new RegistryClient({ credentials: noCreds })

  beforeAll(async () => {
    ;[upstream, mirror] = await Promise.all([startRegistry(), startRegistry()])
    ;[up, mir] = await Promise.all([startFaultProxy(upstream.host), startFaultProxy(mirror.host)])
    await pushImage(plain, img.source, img.manifest.digest, `${upstream.host}/lib/app:v1`)
    await pushImage(plain, img.source, img.manifest.digest, `${mirror.host}/cache/app:v1`)
  }, 60_000)
  afterAll(async () => {
    plain.close()
    await Promise.all([up?.close(), mir?.close()])
    await Promise.all([upstream?.stop(), mirror?.stop()])
  })

  const conf = (mirrorLocation: string, mode = "all", extra = "") =>
    parseRegistriesConf(`
[[registry]]
prefix = "cairn.test/lib"
location = "${up.host}/lib"
${extra}
[[registry.mirror]]
location = "${mirrorLocation}"
pull-from-mirror = "${mode}"
`)
  const reset = () => {
    up.seen.length = 0
    mir.seen.length = 0
  }
  const pull = async (client: RegistryClient, ref: string) => {
    const sink = new DirSink(tempDir())
    try {
      return await pullImage(client, ref, sink)
    } finally {
      client.close()
    }
  }

  it("pulls through a mirror that has the image without touching the upstream", async () => {
    reset()
    const got = await pull(new RegistryClient({ credentials: noCreds, registries: conf(`${mir.host}/cache`) }), "cairn.test/lib/app:v1")
    expect(got.digest).toBe(img.manifest.digest)
    expect(gets(mir, "manifests").length).toBeGreaterThan(0)
    expect(gets(mir, "blobs").length).toBe(3)
    expect(up.seen).toEqual([])
  })

  it("falls back to the upstream when the mirror is down", async () => {
    reset()
    const dead = await freePort()
    const client = new RegistryClient({ credentials: noCreds, registries: conf(`127.0.0.1:${dead}/cache`), transport: { retry: { attempts: 2, baseDelayMs: 5 } } })
    const got = await pull(client, "cairn.test/lib/app:v1")
    expect(got.digest).toBe(img.manifest.digest)
    expect(gets(up, "blobs").length).toBe(3)
  })

  it("falls back to the upstream when the mirror lacks the image (404)", async () => {
    reset()
    const got = await pull(new RegistryClient({ credentials: noCreds, registries: conf(`${mir.host}/empty`) }), "cairn.test/lib/app:v1")
    expect(got.digest).toBe(img.manifest.digest)
    expect(gets(mir, "manifests").length).toBeGreaterThan(0)
    expect(gets(up, "manifests").length).toBeGreaterThan(0)
    expect(gets(up, "blobs").length).toBe(3)
  })

  it("digest-only: the tag is resolved at the upstream, blobs come from the mirror", async () => {
    reset()
    const got = await pull(new RegistryClient({ credentials: noCreds, registries: conf(`${mir.host}/cache`, "digest-only") }), "cairn.test/lib/app:v1")
    expect(got.digest).toBe(img.manifest.digest)
    expect(gets(up, "manifests").map((s) => s.path)).toEqual(["/v2/lib/app/manifests/v1"])
    expect(gets(up, "blobs")).toEqual([])
    expect(gets(mir, "manifests").filter((s) => s.path.endsWith("/v1"))).toEqual([])
    expect(gets(mir, "blobs").length).toBe(3)
    // by digest, the mirror serves the manifest too
    reset()
    const client = new RegistryClient({ credentials: noCreds, registries: conf(`${mir.host}/cache`, "digest-only") })
    const m = await client.getManifest(`cairn.test/lib/app@${img.manifest.digest}`)
    client.close()
    expect(m.digest).toBe(img.manifest.digest)
    expect(up.seen).toEqual([])
  })

  it("the last route's error is what the caller sees; a blocked prefix is refused", async () => {
    const client = new RegistryClient({ credentials: noCreds, registries: conf(`${mir.host}/cache`) })
    await expect(client.getManifest("cairn.test/lib/nothing:v1")).rejects.toSatisfy((e) => e instanceof RegistryError && e.status === 404 && e.url.includes(up.host))
    client.close()
    const blocked = new RegistryClient({ credentials: noCreds, registries: conf(`${mir.host}/cache`, "all", "blocked = true") })
    await expect(blocked.getManifest("cairn.test/lib/app:v1")).rejects.toThrow(BlockedRegistryError)
    await expect(blocked.getManifest("cairn.test/lib/app:v1")).rejects.toThrow(/cairn\.test\/lib\/app is blocked/)
    blocked.close()
  })

  it.skipIf(!haveHtpasswd)("uses the auth file's credentials for the mirror's host", async () => {
    const locked = await startRegistry({ htpasswd: { user: "alice", password: "s3cret" } })
    try {
      const alice = new RegistryClient({ credentials: staticCredentials({ [locked.host]: { username: "alice", password: "s3cret" } }) })
      await pushImage(alice, img.source, img.manifest.digest, `${locked.host}/cache/app:v1`)
      alice.close()
      const dir = tempDir()
      const authFile = join(dir, "auth.json")
      writeFileSync(authFile, JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }))
      reset()
      const registries = conf(`${locked.host}/cache`)
      const got = await pull(new RegistryClient({ credentials: authFileCredentials([authFile]), registries }), "cairn.test/lib/app:v1")
      expect(got.digest).toBe(img.manifest.digest)
      expect(up.seen).toEqual([]) // all from the locked mirror
      // without credentials the mirror refuses (401 is not a fallthrough): a clear AuthError
      const anon = new RegistryClient({ credentials: noCreds, registries })
      await expect(anon.getManifest("cairn.test/lib/app:v1")).rejects.toThrow(/authentication with 127\.0\.0\.1:\d+ failed/)
      anon.close()
    } finally {
      await locked.stop()
    }
  }, 60_000)
})
