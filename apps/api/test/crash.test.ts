// The binary as a child process: SIGKILL mid-upload leaves no partial blob and the next start
// serves everything that had completed; SIGTERM lets a finishing upload complete and abandons a
// stalled one cleanly.
import { type ChildProcess, spawn } from "node:child_process"
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import * as http from "node:http"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Store } from "@cairn/cas"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exec } from "./engineFixture.js"
import { ingestEntries, randomBlob, sha256, tempDir } from "./fixtures.js"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const bin = join(appDir, "bin", "cairn-api.js")

const mtime = (p: string) => stat(p).then((s) => s.mtimeMs, () => undefined)

const distStale = async (): Promise<boolean> => {
  const built = await mtime(join(appDir, "dist", ".tsbuildinfo"))
  if (built === undefined) return true
  for (const dep of ["digest", "oci-spec", "cas", "engine"]) {
    if ((await mtime(join(appDir, "..", "..", "packages", dep, "dist", "index.js"))) === undefined) return true
  }
  for (const f of await readdir(join(appDir, "src"))) if (((await mtime(join(appDir, "src", f))) ?? 0) > built) return true
  return false
}

interface Child {
  readonly proc: ChildProcess
  readonly url: string
  readonly port: number
  readonly exited: Promise<number | null>
}

const start = async (root: string, extra: string[] = []): Promise<Child> => {
  const proc = spawn(process.execPath, [bin, "--root", root, "--listen", "127.0.0.1:0", ...extra], { stdio: ["ignore", "pipe", "pipe"] })
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)))
  let out = ""
  let err = ""
  proc.stderr?.on("data", (c: Buffer) => {
    err += c.toString()
  })
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout?.on("data", (c: Buffer) => {
      out += c.toString()
      const m = /listening on (http:\/\/[^\s]+)/.exec(out)
      if (m?.[1]) resolve(m[1])
    })
    void exited.then((code) => reject(new Error(`cairn-api exited (${code}) before listening: ${err}`)))
  })
  return { proc, url, port: Number(new URL(url).port), exited }
}

/** Runs the bin to its exit (it is expected to refuse to start): exit code and stderr. */
const refusal = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
    const base = { ...process.env }
    delete base.CAIRN_API_TOKEN
    const proc = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...base, ...env } })
    let stderr = ""
    let stdout = ""
    proc.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString()
    })
    proc.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString()
      // it started after all: stop it, so the test fails at once instead of waiting
      if (/listening on/.test(stdout)) proc.kill("SIGKILL")
    })
    proc.on("exit", (code) => resolve({ code, stderr, stdout }))
  })

/** Starts a request whose body stops half way (see {@link ingested} to know the server has it). */
const stalledUpload = (port: number, path: string, data: Buffer) => {
  const req = http.request({ host: "127.0.0.1", port, method: "POST", path, headers: { "Content-Length": String(data.length) }, agent: false })
  const response = new Promise<number>((resolve) => {
    req.on("response", (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on("error", () => resolve(-1))
  })
  req.write(data.subarray(0, data.length >> 1))
  return { req, response, rest: () => req.end(data.subarray(data.length >> 1)) }
}

/**
 * Waits until the server has written at least `bytes` to each of `count` files in the store's
 * ingest area that were not there `before`: the uploads under way have that much stored (a
 * monolithic upload's file is named by the server, not by its digest).
 */
const ingested = async (root: string, before: string[], count: number, bytes: number) => {
  const dir = join(root, "ingest")
  const deadline = Date.now() + 30_000
  for (;;) {
    const names = (await ingestEntries(root)).filter((n) => !before.includes(n))
    const sizes = await Promise.all(names.map((n) => stat(join(dir, n)).then((s) => s.size, () => 0)))
    if (sizes.filter((n) => n >= bytes).length >= count) return
    if (Date.now() > deadline) throw new Error(`the server never wrote ${bytes} bytes to each of ${count} files in ${dir}: ${JSON.stringify(names)} hold ${JSON.stringify(sizes)}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const pushComplete = async (url: string, name: string) => {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
  const layer = randomBlob(50_000)
  for (const b of [config, layer]) {
    expect((await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${sha256(b)}`, { method: "POST", body: b })).status).toBe(201)
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length }]
  })
  const put = await fetch(`${url}/v2/${name}/manifests/v1`, { method: "PUT", body: manifest, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })
  expect(put.status).toBe(201)
  return { layer, manifest }
}

describe("the cairn-api process", () => {
  let root: string
  const children: Child[] = []
  beforeAll(async () => {
    // the bin runs the built output: (re)build when dist is missing or older than src
    if (await distStale()) await exec("npx", ["tsc", "-b"], { cwd: appDir })
    root = await tempDir()
  })
  afterAll(async () => {
    for (const c of children) c.proc.kill("SIGKILL")
    await rm(root, { recursive: true, force: true })
  })

  it("prints its version with --version and exits 0 without opening a root", async () => {
    const pkg = JSON.parse(await readFile(join(appDir, "package.json"), "utf8")) as { version: string }
    const r = await refusal(["--version", "--root", join(root, "never-created")])
    expect(r).toEqual({ code: 0, stderr: "", stdout: `cairn-api ${pkg.version}\n` })
    expect(await mtime(join(root, "never-created"))).toBeUndefined()
  })

  it("refuses to start on a non-loopback address without a token, with one line saying why", async () => {
    for (const listen of ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"]) {
      const r = await refusal(["--root", root, "--listen", listen])
      expect([listen, r.code]).toEqual([listen, 2])
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toMatch(/without a token/)
      expect(r.stdout).not.toMatch(/listening/)
    }
  })

  it("refuses a token of fewer than 16 bytes, from a file or the environment", async () => {
    const file = join(`${root}-token`)
    await writeFile(file, "tooshort\n")
    const r = await refusal(["--root", root, "--token-file", file, "--listen", "127.0.0.1:0"])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/is 8 bytes; use at least 16/)
    const env = await refusal(["--root", root, "--listen", "127.0.0.1:0"], { CAIRN_API_TOKEN: "x" })
    expect(env.code).toBe(2)
    expect(env.stderr).toMatch(/CAIRN_API_TOKEN is 1 bytes/)
    await rm(file, { force: true })
  })

  it("says why it cannot listen when the port is taken", async () => {
    const first = await start(root)
    children.push(first)
    const r = await refusal(["--root", root, "--listen", `127.0.0.1:${first.port}`])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: EADDRINUSE: the address is already in use`))
    first.proc.kill("SIGTERM")
    expect(await first.exited).toBe(0)
  })

  it("leaves no partial blob when SIGKILLed mid-upload, and serves what completed after a restart", async () => {
    const first = await start(root)
    children.push(first)
    const { layer, manifest } = await pushComplete(first.url, "crash/app")
    // a chunked session half written, and a monolithic upload stalled half way
    const chunked = randomBlob(200_000)
    const s = await fetch(`${first.url}/v2/crash/app/blobs/uploads/`, { method: "POST" })
    const loc = s.headers.get("location") as string
    expect((await fetch(`${first.url}${loc}`, { method: "PATCH", body: chunked.subarray(0, 100_000) })).status).toBe(202)
    const mono = randomBlob(4 << 20)
    const before = await ingestEntries(root)
    const stalled = stalledUpload(first.port, `/v2/crash/app/blobs/uploads/?digest=${sha256(mono)}`, mono)
    await ingested(root, before, 1, mono.length >> 1)
    first.proc.kill("SIGKILL")
    await first.exited
    stalled.req.destroy()

    const store = await Store.open(root)
    expect(await store.has(sha256(layer))).toBe(true)
    expect(await store.has(sha256(chunked))).toBe(false)
    expect(await store.has(sha256(mono))).toBe(false)
    const visible = new Set<string>()
    for await (const b of store.list()) visible.add(b.digest)
    expect(visible.has(sha256(mono))).toBe(false)

    const second = await start(root)
    children.push(second)
    const got = await fetch(`${second.url}/v2/crash/app/manifests/v1`)
    expect(await got.text()).toBe(manifest)
    const blob = await fetch(`${second.url}/v2/crash/app/blobs/${sha256(layer)}`)
    expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true)
    expect((await fetch(`${second.url}/v2/crash/app/blobs/${sha256(mono)}`, { method: "HEAD" })).status).toBe(404)
    expect((await fetch(`${second.url}${loc}`)).status).toBe(404)
    // the dead process's session file is gone
    expect(await readdir(join(root, "api-uploads"))).toEqual([])
    second.proc.kill("SIGTERM")
    expect(await second.exited).toBe(0)
  })

  it("on SIGTERM finishes an upload that completes in time and abandons one that stalls", async () => {
    const c = await start(root, ["--shutdown-timeout", "2"])
    children.push(c)
    const finishing = randomBlob(1 << 20)
    const before = await ingestEntries(root)
    const f = stalledUpload(c.port, `/v2/term/app/blobs/uploads/?digest=${sha256(finishing)}`, finishing)
    const stuck = randomBlob(1 << 20)
    const st = stalledUpload(c.port, `/v2/term/app/blobs/uploads/?digest=${sha256(stuck)}`, stuck)
    const s = await fetch(`${c.url}/v2/term/app/blobs/uploads/`, { method: "POST" })
    expect((await fetch(`${c.url}${s.headers.get("location")}`, { method: "PATCH", body: "partial", headers: { "Content-Type": "application/octet-stream" } })).status).toBe(202)
    // both uploads are under way (their first halves stored) before the signal
    await ingested(root, before, 2, finishing.length >> 1)
    c.proc.kill("SIGTERM")
    await new Promise((r) => setTimeout(r, 300))
    f.rest()
    expect(await f.response).toBe(201)
    expect(await c.exited).toBe(0)
    expect([-1, 500, 503]).toContain(await st.response)
    const store = await Store.open(root)
    expect(await store.has(sha256(finishing))).toBe(true)
    expect(await store.has(sha256(stuck))).toBe(false)
    expect(await readdir(join(root, "api-uploads"))).toEqual([])
  })

  it("on SIGTERM with an /events stream open ends the stream, exits 0 and prints no warning (#16: DEP0066)", async () => {
    const proc = spawn(process.execPath, [bin, "--root", root, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)))
    let stderr = ""
    proc.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString()
    })
    let out = ""
    const url = await new Promise<string>((resolve) =>
      proc.stdout?.on("data", (c: Buffer) => {
        out += c.toString()
        const m = /listening on (http:\/\/[^\s]+)/.exec(out)
        if (m?.[1]) resolve(m[1])
      })
    )
    // an SSE client: wait for the stream's first bytes, then for its end
    const { ended } = await new Promise<{ ended: Promise<string> }>((resolve) => {
      http.get(`${url}/events`, { agent: false }, (res) => {
        let body = ""
        const done = new Promise<string>((r) => res.on("end", () => r(body)).on("close", () => r(body)))
        res.on("data", (c: Buffer) => {
          body += c.toString()
          resolve({ ended: done })
        })
      })
    })
    proc.kill("SIGTERM")
    expect(await exited).toBe(0)
    expect(await ended).toMatch(/^: cairn-api events/)
    expect(stderr).not.toMatch(/Warning|DEP0/)
  })
})
