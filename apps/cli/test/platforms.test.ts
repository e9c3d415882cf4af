// Issue #16 "pull --all-platforms", through the binary: a multi-platform image (published by skopeo
// copy --all into docker-registry) pulled whole, listed with its platforms, pushed back whole;
// copy --all as skopeo's; --all-platforms with --platform is a usage error.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildIndexLayout, busyboxLayer } from "../../../packages/engine/test/fixtures.js"
import { haveRegistry, haveSkopeo, type RunningRegistry, startRegistry } from "../../../packages/registry/test/support/registryServer.js"
import { e2eSkipReason } from "./fixtures.js"

const skip = e2eSkipReason() ?? (!haveRegistry ? "needs docker-registry (Debian package docker-registry)" : undefined) ?? (!haveSkopeo ? "needs skopeo" : undefined)
if (skip) console.warn(`skipping cairn pull --all-platforms tests: ${skip}`)

const bin = join(import.meta.dirname, "..", "bin", "cairn.js")
const host = process.arch === "x64" ? "amd64" : process.arch
const other = host === "arm64" ? "amd64" : "arm64"

describe.skipIf(skip !== undefined)("cairn pull --all-platforms and copy --all", () => {
  let tmp: string
  let reg: RunningRegistry
  let built: ReturnType<typeof buildIndexLayout>
  let ref: string
  const cairn = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, "--root", join(tmp, "root"), "--progress", "none", ...args], { encoding: "utf8" })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  const skopeo = (...args: string[]) => {
    const r = spawnSync("skopeo", args, { encoding: "utf8" })
    expect(r.status, r.stderr).toBe(0)
    return r.stdout
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-platforms-"))
    reg = await startRegistry()
    built = buildIndexLayout(join(tmp, "src"), "multi", [
      { architecture: host, layers: [busyboxLayer] },
      { architecture: other, layers: [{ files: { "etc/arch": `${other}\n` } }] }
    ])
    ref = `${reg.host}/me/multi:1`
    skopeo("copy", "--all", "--dest-tls-verify=false", `oci:${join(tmp, "src")}:multi`, `docker://${ref}`)
  })
  afterAll(async () => {
    await reg?.stop()
    if (tmp) rmSync(tmp, { recursive: true, force: true })
  })

  it("refuses --all-platforms with --platform as a usage error, before any request", () => {
    const r = cairn("pull", "--all-platforms", "--platform", `linux/${other}`, ref)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--all-platforms and --platform exclude each other/)
  })

  it("pulls every platform, lists them, runs this host's, and pushes the same index back", () => {
    const pulled = cairn("-q", "pull", "--all-platforms", ref, "multi:1")
    expect(pulled.stderr).toBe("")
    expect(pulled.stdout).toBe(`${built.indexDigest}\n`)
    const listed = cairn("images", "--format", "{{.Repository}}:{{.Tag}} {{.Platform}} {{.Platforms}}")
    expect(listed.stdout).toMatch(new RegExp(`^multi:1 linux/${host}\\S* linux/${host},linux/${other}\\n$`))
    // a container from it gets this host's files
    const id = cairn("-q", "create", "multi:1").stdout.trim()
    expect(id).toMatch(/^[0-9a-f]{64}$/)
    const listing = cairn("cp", `${id}:/bin/busybox`, join(tmp, "bb"))
    expect(listing.code, listing.stderr).toBe(0)
    expect(cairn("rm", id).code).toBe(0)
    const pushed = cairn("-q", "push", "multi:1", `${reg.host}/me/back:1`)
    expect(pushed.stdout).toBe(`${built.indexDigest}\n`)
    const raw = JSON.parse(skopeo("inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/me/back:1`)) as { manifests: Array<{ digest: string }> }
    expect(raw.manifests.map((m) => m.digest)).toEqual(built.images.map((i) => i.manifestDigest))
  })

  it("copy --all keeps the index; copy alone takes this host's image, as skopeo copy does", () => {
    const whole = cairn("-q", "copy", "--all", `docker://${ref}`, `oci:${join(tmp, "whole")}:m`)
    expect(whole.stderr).toBe("")
    expect(whole.stdout).toBe(`${built.indexDigest}\n`)
    const idx = JSON.parse(readFileSync(join(tmp, "whole", "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
    expect(idx.manifests.map((m) => m.digest)).toEqual([built.indexDigest])
    const one = cairn("-q", "copy", `docker://${ref}`, `oci:${join(tmp, "one")}:m`)
    expect(one.stdout).toBe(`${built.images.find((i) => i.architecture === host)!.manifestDigest}\n`)
  })
})
