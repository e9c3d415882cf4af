// Issue #18 "registry mirrors": `cairn pull` follows <root>/registries.conf (or --registries-conf),
// against two real docker-registry instances, each behind a counting proxy; `cairn info` shows it.
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Engine } from "@cairn/engine"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FaultProxy, startFaultProxy } from "../../../packages/registry/test/support/faultProxy.js"
import { freePort, haveRegistry, type RunningRegistry, startRegistry } from "../../../packages/registry/test/support/registryServer.js"
import { e2eSkipReason, makeBusyboxLayout } from "./fixtures.js"

const skip = e2eSkipReason() ?? (!haveRegistry ? "needs docker-registry (Debian package docker-registry)" : undefined)
if (skip) console.warn(`skipping cairn mirror tests: ${skip}`)

const bin = join(import.meta.dirname, "..", "bin", "cairn.js")
const blobGets = (p: FaultProxy) => p.seen.filter((s) => s.method === "GET" && s.path.includes("/blobs/")).length

describe.skipIf(skip !== undefined)("cairn pull through registries.conf mirrors", () => {
  let tmp: string
  let upstream: RunningRegistry
  let mirror: RunningRegistry
  let up: FaultProxy
  let mir: FaultProxy
  // async: the counting proxies run in this process and must answer while cairn runs
  const cairn = (root: string, args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [bin, "--root", join(tmp, root), "--progress", "none", ...args], { env: { ...process.env, HOME: tmp } })
      let stdout = ""
      let stderr = ""
      c.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
      c.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      c.on("close", (code) => resolve({ code, stdout, stderr }))
    })
  // the root must exist (an empty one is initialised by the first command) before the file goes in
  const conf = async (root: string, mirrorLocation: string) => {
    expect((await cairn(root, ["images"])).code).toBe(0)
    const file = join(tmp, root, "registries.conf")
    writeFileSync(file, `[[registry]]\nprefix = "cairn.test/lib"\nlocation = "${up.host}/lib"\n[[registry.mirror]]\nlocation = "${mirrorLocation}"\n`)
    return file
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-mirrors-"))
    ;[upstream, mirror] = await Promise.all([startRegistry(), startRegistry()])
    ;[up, mir] = await Promise.all([startFaultProxy(upstream.host), startFaultProxy(mirror.host)])
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    expect((await cairn("src", ["import", `oci:${layout}:busybox`, "busybox"])).code).toBe(0)
    expect((await cairn("src", ["push", "busybox", `${upstream.host}/lib/busybox:1`])).code).toBe(0)
    expect((await cairn("src", ["push", "busybox", `${mirror.host}/cache/busybox:1`])).code).toBe(0)
  }, 120_000)
  afterAll(async () => {
    await Promise.all([up?.close(), mir?.close()])
    await Promise.all([upstream?.stop(), mirror?.stop()])
    if (tmp) rmSync(tmp, { recursive: true, force: true })
  })

  it("pulls from the mirror named in <root>/registries.conf, and info shows it", async () => {
    await conf("a", `${mir.host}/cache`)
    up.seen.length = 0
    mir.seen.length = 0
    const r = await cairn("a", ["pull", "cairn.test/lib/busybox:1", "bb"])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(blobGets(mir)).toBeGreaterThan(0)
    expect(up.seen).toEqual([])
    const info = await cairn("a", ["info", "--json"])
    const reg = JSON.parse(info.stdout).registries
    expect(reg.file).toBe(join(tmp, "a", "registries.conf"))
    expect(reg.registries[0].mirrors[0].location).toBe(`${mir.host}/cache`)
    expect((await cairn("a", ["info"])).stdout).toMatch(/Registries: .*cairn\.test\/lib -> 127\.0\.0\.1:\d+\/cache \[mirror, all\]/)
  })

  it("--registries-conf with the mirror down falls back to the upstream; a broken file is a clear error", async () => {
    const dead = await freePort()
    const file = await conf("elsewhere", `127.0.0.1:${dead}/cache`)
    up.seen.length = 0
    const r = await cairn("b", ["pull", "--registries-conf", file, "cairn.test/lib/busybox:1", "bb"])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(blobGets(up)).toBeGreaterThan(0)
    writeFileSync(file, '[[registry]]\nprefix = "x"\nmirror = 3\n')
    const bad = await cairn("c", ["pull", "--registries-conf", file, "cairn.test/lib/busybox:1"])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/registries configuration .*elsewhere\/registries\.conf: \[\[registry\]\] #1 mirror must be/)
  }, 120_000)

  it("Engine.open({ registriesConf }) follows the file it names", async () => {
    const file = await conf("elsewhere2", `${mir.host}/cache`)
    up.seen.length = 0
    mir.seen.length = 0
    const engine = await Engine.open({ root: join(tmp, "d"), registriesConf: file })
    try {
      const img = await engine.pull("cairn.test/lib/busybox:1", "bb")
      expect(img.names).toContain("bb:latest")
    } finally {
      await engine.close()
    }
    expect(blobGets(mir)).toBeGreaterThan(0)
    expect(up.seen).toEqual([])
  }, 120_000)
})
