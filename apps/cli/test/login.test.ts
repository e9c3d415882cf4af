// Issue #16 "Registry credentials": cairn login/logout against a real docker-registry with htpasswd
// auth, the saved credentials used by push and pull, and the same auth file read by skopeo.
import { spawnSync } from "node:child_process"
import { lookup } from "node:dns/promises"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { haveHtpasswd, haveRegistry, haveSkopeo, type RunningRegistry, startRegistry } from "../../../packages/registry/test/support/registryServer.js"
import { e2eSkipReason, makeBusyboxLayout } from "./fixtures.js"

const skip =
  e2eSkipReason() ??
  (!haveRegistry ? "needs docker-registry (Debian package docker-registry)" : undefined) ??
  (!haveHtpasswd ? "needs htpasswd (Debian package apache2-utils)" : undefined) ??
  (!haveSkopeo ? "needs skopeo" : undefined)
if (skip) console.warn(`skipping cairn login tests: ${skip}`)

const bin = join(import.meta.dirname, "..", "bin", "cairn.js")

describe.skipIf(skip !== undefined)("cairn login / logout with a htpasswd registry", () => {
  let tmp: string
  let reg: RunningRegistry
  let env: NodeJS.ProcessEnv
  let authFile: string
  const cairn = (root: string, args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [bin, "--root", join(tmp, root), "--progress", "none", ...args], { encoding: "utf8", env, ...(input === undefined ? {} : { input }) })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-login-"))
    reg = await startRegistry({ htpasswd: { user: "alice", password: "s3cret" } })
    // the default auth file: $XDG_RUNTIME_DIR/containers/auth.json; no other credential source
    mkdirSync(join(tmp, "xdg"))
    const { REGISTRY_AUTH_FILE: _a, DOCKER_CONFIG: _d, ...rest } = process.env
    env = { ...rest, XDG_RUNTIME_DIR: join(tmp, "xdg"), XDG_CONFIG_HOME: join(tmp, "config"), HOME: tmp }
    authFile = join(tmp, "xdg", "containers", "auth.json")
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    expect(cairn("a", ["import", `oci:${layout}:busybox`, "busybox"]).code).toBe(0)
  })
  afterAll(async () => {
    await reg?.stop()
    if (tmp) rmSync(tmp, { recursive: true, force: true })
  })

  it("refuses a wrong password, saves a right one, and push/pull/skopeo use the file; logout removes it", () => {
    const ref = `${reg.host}/me/busybox:1`
    // nothing saved yet: the registry's Basic challenge finds no credentials
    const anon = cairn("a", ["push", "busybox", ref])
    expect(anon.code).toBe(1)
    expect(anon.stderr).toMatch(/no credentials are configured/)

    const wrong = cairn("a", ["login", "-u", "alice", "--password-stdin", reg.host], "nope\n")
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/authentication with 127\.0\.0\.1:\d+ failed: username\/password for alice rejected/)
    expect(existsSync(authFile)).toBe(false)

    const right = cairn("a", ["login", "-u", "alice", "--password-stdin", reg.host], "s3cret\n")
    expect(right.stderr).toBe("")
    expect(right.stdout).toBe("Login Succeeded!\n")
    const saved = JSON.parse(readFileSync(authFile, "utf8")) as { auths: Record<string, { auth: string }> }
    expect(saved.auths[reg.host]).toEqual({ auth: Buffer.from("alice:s3cret").toString("base64") })

    const pushed = cairn("a", ["--json", "push", "busybox", ref])
    expect(pushed.stderr).toBe("")
    const digest = (JSON.parse(pushed.stdout) as { digest: string }).digest
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/)

    // skopeo reads the same file
    const sk = spawnSync("skopeo", ["inspect", "--authfile", authFile, "--tls-verify=false", `docker://${ref}`], { encoding: "utf8" })
    expect(sk.stderr).toBe("")
    expect((JSON.parse(sk.stdout) as { Digest: string }).Digest).toBe(digest)

    const pulled = cairn("b", ["--json", "pull", ref, "again"])
    expect(pulled.stderr).toBe("")
    expect((JSON.parse(pulled.stdout) as { digest: string }).digest).toBe(digest)

    const out = cairn("a", ["logout", reg.host])
    expect(out.stdout).toBe(`Removed login credentials for ${reg.host}\n`)
    expect((JSON.parse(readFileSync(authFile, "utf8")) as { auths: object }).auths).toEqual({})
    expect(cairn("c", ["pull", ref]).stderr).toMatch(/no credentials are configured/)
    // --creds instead of the file; --authfile elsewhere
    expect(cairn("c", ["pull", "--creds", "alice:s3cret", ref]).code).toBe(0)
    const other = join(tmp, "other.json")
    expect(cairn("a", ["login", "-u", "alice", "-p", "s3cret", "--authfile", other, reg.host]).code).toBe(0)
    expect(cairn("d", ["pull", "--authfile", other, ref]).code).toBe(0)
    expect(cairn("a", ["logout", reg.host]).stderr).toMatch(/not logged in to 127\.0\.0\.1:\d+/)
  })

  it("--tls-verify=false speaks plain HTTP to a named (non-loopback) registry", async (t) => {
    // the machine's own name reaches the registry on 127.0.0.1 but is not a loopback name
    const name = hostname()
    const addr = await lookup(name).catch(() => undefined)
    if (addr?.address !== "127.0.0.1") return t.skip(`${name} does not resolve to 127.0.0.1`)
    const ref = `${name}:${reg.port}/me/named:1`
    const https = cairn("a", ["push", "--creds", "alice:s3cret", "busybox", ref])
    expect(https.code).toBe(1)
    expect(https.stderr).toMatch(/https:\/\/.*add --tls-verify=false/)
    expect(cairn("a", ["push", "--creds", "alice:s3cret", "--tls-verify=false", "busybox", ref]).stderr).toBe("")
    const login = cairn("a", ["login", "-u", "alice", "-p", "s3cret", "--tls-verify=false", `${name}:${reg.port}`])
    expect(login.stdout).toBe("Login Succeeded!\n")
    expect(cairn("e", ["pull", "--tls-verify=false", ref]).stderr).toBe("")
    expect(cairn("a", ["push", "--tls-verify=maybe", "busybox", ref]).code).toBe(2)
  })
})
