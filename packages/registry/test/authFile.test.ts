// containers-auth.json: podman's file order, and login/logout's writes keeping the rest of the file.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AuthError, containersAuthCredentials, containersAuthFile, containersAuthFiles, removeAuth, saveAuth } from "../src/index.js"

const b64 = (s: string) => Buffer.from(s).toString("base64")

describe("containers auth files", () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cairn-authfile-"))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("picks the file as podman does", () => {
    expect(containersAuthFile({ authFile: "/x/a.json", env: { REGISTRY_AUTH_FILE: "/y.json" } })).toBe("/x/a.json")
    expect(containersAuthFile({ env: { REGISTRY_AUTH_FILE: "/y.json", XDG_RUNTIME_DIR: "/run/user/7" } })).toBe("/y.json")
    expect(containersAuthFile({ env: { XDG_RUNTIME_DIR: "/run/user/7" } })).toBe("/run/user/7/containers/auth.json")
    expect(containersAuthFile({ env: {} })).toBe(`/run/containers/${process.getuid?.() ?? 0}/auth.json`)
    expect(containersAuthFiles({ authFile: "/x/a.json", env: {} })).toEqual(["/x/a.json"])
    expect(containersAuthFiles({ env: { XDG_RUNTIME_DIR: "/r", XDG_CONFIG_HOME: "/c", DOCKER_CONFIG: "/d" } })).toEqual([
      "/r/containers/auth.json",
      "/c/containers/auth.json",
      "/d/config.json"
    ])
  })

  it("reads the first file with an entry: the runtime file, then the docker config", async () => {
    const env = { XDG_RUNTIME_DIR: join(dir, "run"), XDG_CONFIG_HOME: join(dir, "cfg"), DOCKER_CONFIG: join(dir, "docker") }
    mkdirSync(join(dir, "run", "containers"), { recursive: true })
    mkdirSync(join(dir, "docker"), { recursive: true })
    writeFileSync(join(dir, "run", "containers", "auth.json"), JSON.stringify({ auths: { "a:5000": { auth: b64("ra:rp") } } }))
    writeFileSync(join(dir, "docker", "config.json"), JSON.stringify({ auths: { "a:5000": { auth: b64("da:dp") }, "https://b:5000/v1/": { auth: b64("db:dp") } } }))
    const store = containersAuthCredentials({ env })
    expect(await store("a:5000")).toEqual({ username: "ra", password: "rp" })
    expect(await store("b:5000")).toEqual({ username: "db", password: "dp" })
    expect(await store("c:5000")).toBeUndefined()
    writeFileSync(join(dir, "run", "containers", "auth.json"), "{not json")
    await expect(store("a:5000")).rejects.toBeInstanceOf(AuthError)
  })

  it("saveAuth keeps other entries and keys, writes mode 0600; removeAuth removes only the registry", async () => {
    const file = join(dir, "new", "auth.json")
    await saveAuth(file, "a:5000", { username: "u", password: "p:q" })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    writeFileSync(file, JSON.stringify({ auths: { ...JSON.parse(readFileSync(file, "utf8")).auths, "http://b:5000": { auth: b64("x:y") } }, credHelpers: {} }))
    await saveAuth(file, "b:5000", { username: "u2", password: "p2" })
    const saved = JSON.parse(readFileSync(file, "utf8"))
    expect(saved).toEqual({ auths: { "a:5000": { auth: b64("u:p:q") }, "b:5000": { auth: b64("u2:p2") } }, credHelpers: {} })
    expect(await removeAuth(file, "a:5000")).toEqual(["a:5000"])
    expect(await removeAuth(file, "a:5000")).toEqual([])
    expect(JSON.parse(readFileSync(file, "utf8")).auths).toEqual({ "b:5000": { auth: b64("u2:p2") } })
    expect(await removeAuth(file, undefined)).toEqual(["b:5000"])
    expect(await removeAuth(join(dir, "absent.json"), "a:5000")).toEqual([])
  })
})
