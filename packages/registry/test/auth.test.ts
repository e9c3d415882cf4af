import { chmodSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AuthError, dockerConfigCredentials, parseChallenges, pullImage, pushImage, RegistryClient, staticCredentials } from "../src/index.js"
import { DirSink } from "./support/dirSink.js"
import { makeImage } from "./support/image.js"
import { haveOpenssl, haveRegistry, type RunningRegistry, startRegistry } from "./support/registryServer.js"
import { startTokenServer, type TokenServer } from "./support/tokenServer.js"
import { tempDirs } from "./support/tempDirs.js"

const tempDir = tempDirs("cairn-auth-test-")

describe("parseChallenges", () => {
  it("reads several challenges with quoted, escaped and comma-holding values", () => {
    const h = 'Basic realm="r1", Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push", error="insufficient_scope"'
    expect(parseChallenges(h)).toEqual([
      { scheme: "basic", params: { realm: "r1" } },
      {
        scheme: "bearer",
        params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push", error: "insufficient_scope" }
      }
    ])
    expect(parseChallenges('Bearer realm="a\\"b"')).toEqual([{ scheme: "bearer", params: { realm: 'a"b' } }])
  })
})

describe("dockerConfigCredentials", () => {
  it("reads auths (base64 user:password, Docker Hub's legacy key) and identity tokens", async () => {
    const dir = tempDir()
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: Buffer.from("hubuser:hubpass").toString("base64") },
          "127.0.0.1:5000": { username: "u", password: "p:with:colons" },
          "http://reg.example:8443/v2/": { auth: Buffer.from("a:b:c").toString("base64") },
          "oauth.example": { identitytoken: "refresh-me" }
        }
      })
    )
    const store = dockerConfigCredentials({ configDir: dir })
    expect(await store("docker.io")).toEqual({ username: "hubuser", password: "hubpass" })
    expect(await store("127.0.0.1:5000")).toEqual({ username: "u", password: "p:with:colons" })
    expect(await store("reg.example:8443")).toEqual({ username: "a", password: "b:c" })
    expect(await store("oauth.example")).toEqual({ identityToken: "refresh-me" })
    expect(await store("other.example")).toBeUndefined()
    expect(await dockerConfigCredentials({ configDir: join(dir, "absent") })("docker.io")).toBeUndefined()
    expect(await dockerConfigCredentials({ env: { DOCKER_CONFIG: dir } })("127.0.0.1:5000")).toEqual({ username: "u", password: "p:with:colons" })
  })

  it("asks credHelpers first, then credsStore, via docker-credential-<name> get", async () => {
    const dir = tempDir()
    const bin = join(dir, "bin")
    mkdirSync(bin)
    // helpers answer per the docker-credential-helpers protocol; the server URL arrives on stdin
    writeFileSync(
      join(bin, "docker-credential-fake"),
      `#!/bin/sh\nread server\nif [ "$server" = "reg.example" ]; then echo '{"ServerURL":"reg.example","Username":"helper-user","Secret":"helper-secret"}'; else echo "credentials not found in native keychain"; exit 1; fi\n`
    )
    writeFileSync(
      join(bin, "docker-credential-store"),
      `#!/bin/sh\nread server\nif [ "$server" = "https://index.docker.io/v1/" ]; then echo '{"ServerURL":"x","Username":"<token>","Secret":"idtok"}'; else echo "credentials not found"; exit 1; fi\n`
    )
    writeFileSync(join(bin, "docker-credential-broken"), "#!/bin/sh\necho boom >&2\nexit 3\n")
    for (const f of ["fake", "store", "broken"]) chmodSync(join(bin, `docker-credential-${f}`), 0o755)
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ credHelpers: { "reg.example": "fake", "bad.example": "broken" }, credsStore: "store", auths: { "plain.example": { username: "x", password: "y" } } })
    )
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` }
    const store = dockerConfigCredentials({ configDir: dir, env })
    expect(await store("reg.example")).toEqual({ username: "helper-user", password: "helper-secret" })
    expect(await store("docker.io")).toEqual({ identityToken: "idtok" })
    // credsStore has nothing for it: fall back to auths
    expect(await store("plain.example")).toEqual({ username: "x", password: "y" })
    const err = await store("bad.example").catch((e) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect(err.message).toMatch(/docker-credential-broken get exited with 3: boom/)
  })
})

describe.skipIf(!haveRegistry || !haveOpenssl)("bearer token flow against docker-registry", () => {
  let tokens: TokenServer
  let reg: RunningRegistry
  beforeAll(async () => {
    tokens = await startTokenServer(tempDir(), { bob: "builder" })
    reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certFile: tokens.certFile } })
  })
  afterAll(async () => {
    await reg?.stop()
    await tokens?.close()
  })

  it("pushes with credentials, pulls anonymously, and reuses tokens per scope", async () => {
    const bob = new RegistryClient({ credentials: staticCredentials({ [reg.host]: { username: "bob", password: "builder" } }) })
    const anon = new RegistryClient({ credentials: staticCredentials({}) })
    try {
      const img = makeImage([{ a: "token" }, { b: "flow" }])
      await pushImage(bob, img.source, img.manifest.digest, `${reg.host}/tok/app:1`)
      expect(tokens.requests.some((r) => r.user === "bob" && r.scopes.includes("repository:tok/app:pull,push"))).toBe(true)

      const before = tokens.requests.length
      const sink = new DirSink(tempDir())
      const r = await pullImage(anon, `${reg.host}/tok/app:1`, sink)
      expect(r.digest).toBe(img.manifest.digest)
      const pulls = tokens.requests.slice(before)
      // one token for repository:tok/app:pull serves the manifest and all three blobs
      expect(pulls).toEqual([{ scopes: ["repository:tok/app:pull"], user: undefined, method: "GET" }])
    } finally {
      bob.close()
      anon.close()
    }
  })

  it("exchanges an identity token with the OAuth2 refresh grant", async () => {
    const client = new RegistryClient({ credentials: staticCredentials({ [reg.host]: { identityToken: "refresh-me" } }) })
    try {
      const img = makeImage([{ c: "oauth" }])
      await pushImage(client, img.source, img.manifest.digest, `${reg.host}/tok/oauth:1`)
      expect(tokens.requests.at(-1)?.method).toBe("POST")
    } finally {
      client.close()
    }
  })

  it("fails with AuthError when the token does not grant push, or the password is wrong", async () => {
    const anon = new RegistryClient({ credentials: staticCredentials({}) })
    const wrong = new RegistryClient({ credentials: staticCredentials({ [reg.host]: { username: "bob", password: "nope" } }) })
    try {
      const img = makeImage([{ d: "denied" }])
      const e1 = await pushImage(anon, img.source, img.manifest.digest, `${reg.host}/tok/denied:1`).catch((e) => e)
      expect(e1).toBeInstanceOf(AuthError)
      expect(e1.message).toMatch(/refused the token/)
      const e2 = await wrong.getManifest(`${reg.host}/tok/app:1`).catch((e) => e)
      expect(e2).toBeInstanceOf(AuthError)
      expect(e2.status).toBe(401)
      expect(e2.message).toMatch(/token service .* answered HTTP 401/)
    } finally {
      anon.close()
      wrong.close()
    }
  })
})
