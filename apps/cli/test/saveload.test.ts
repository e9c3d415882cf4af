// `cairn save` / `cairn load` (docker's names, #16) through the real binary: pipes, both archive
// kinds, gzip, skopeo reading what save wrote, and refusals that leave the store untouched.
import { spawnSync } from "node:child_process"
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { e2eSkipReason, have, makeBusyboxLayout } from "./fixtures.js"

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
const skip = !built ? "apps/cli is not built (npm test builds it first)" : e2eSkipReason()
if (skip) console.warn(`skipping cairn save/load tests: ${skip}`)

describe.skipIf(skip !== undefined)("cairn save and load", () => {
  let tmp: string
  let src: string
  const run = (root: string, args: string[], input?: Buffer) => {
    const r = spawnSync(process.execPath, [bin, "--root", root, "--progress", "none", ...args], { input, maxBuffer: 1 << 28 })
    return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString("utf8") }
  }
  const blobs = (root: string) => (existsSync(join(root, "blobs/sha256")) ? readdirSync(join(root, "blobs/sha256")).length : 0)
  const imageIds = (root: string) => run(root, ["images", "-q", "--no-trunc"]).stdout.toString("utf8").trim()
  // a docker archive holds the config as it was but re-packs the layers, so the manifest differs: compare configs
  const configDigest = (root: string) => (JSON.parse(run(root, ["inspect", "busybox:1"]).stdout.toString("utf8")) as { manifest: { config: { digest: string } } }).manifest.config.digest

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-saveload-"))
    src = join(tmp, "src")
    const layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    expect(run(src, ["import", `oci:${layout}:busybox`, "busybox:1"]).code).toBe(0)
  })
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  it("save | load round-trips an image through a pipe, as docker-archive and as oci-archive", () => {
    for (const format of ["docker-archive", "oci-archive"]) {
      const saved = run(src, ["save", "--format", format, "busybox:1"])
      expect(saved.code, saved.stderr).toBe(0)
      expect(saved.stdout.length).toBeGreaterThan(512)
      const dest = join(tmp, `dest-${format}`)
      const loaded = run(dest, ["load"], saved.stdout)
      expect(loaded.code, loaded.stderr).toBe(0)
      expect(loaded.stdout.toString("utf8")).toBe("Loaded image: busybox:1\n")
      expect(configDigest(dest)).toBe(configDigest(src))
      expect(run(dest, ["cat", "busybox:1", "/etc/motd"]).stdout.toString("utf8")).toBe("welcome to the fixture\n")
      expect(run(dest, ["fsck"]).code).toBe(0)
    }
  })

  it("save -o writes a docker archive skopeo reads; load -i reads it back, also gzip-compressed", () => {
    const file = join(tmp, "bb.tar")
    expect(run(src, ["save", "-o", file, "busybox:1"]).code).toBe(0)
    if (have("skopeo")) {
      const r = spawnSync("skopeo", ["inspect", "--raw", `docker-archive:${file}`], { encoding: "utf8" })
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout).layers).toHaveLength(1)
    } else console.warn("skopeo missing: not checking that it reads the saved archive")
    const gz = join(tmp, "bb.tar.gz")
    writeFileSync(gz, gzipSync(readFileSync(file)))
    for (const input of [file, gz]) {
      const dest = join(tmp, `dest-${input.endsWith(".gz") ? "gz" : "plain"}`)
      const r = run(dest, ["load", "-i", input])
      expect(r.code, r.stderr).toBe(0)
      expect(configDigest(dest)).toBe(configDigest(src))
    }
  })

  it("a truncated or corrupt archive fails with a message and stores nothing", () => {
    const file = join(tmp, "bb2.tar")
    expect(run(src, ["save", "-o", file, "busybox:1"]).code).toBe(0)
    const bytes = readFileSync(file)
    const cut = join(tmp, "cut")
    const r = run(cut, ["load"], bytes.subarray(0, Math.floor(bytes.length / 2)))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot load from stdin: not a whole image archive: the tar stream ends in the middle/)
    expect(imageIds(cut)).toBe("")
    expect(blobs(cut)).toBe(0)
    // a tar that is no image archive (a filesystem's), gzip-compressed on stdin: read through, refused, nothing kept
    writeFileSync(join(tmp, "motd"), "hello\n")
    const fsTar = spawnSync("tar", ["-c", "-C", tmp, "motd"]).stdout
    const notImage = join(tmp, "not-image")
    const n = run(notImage, ["load"], gzipSync(fsTar))
    expect(n.code).toBe(1)
    expect(n.stderr).toMatch(/cannot load from stdin: not an image archive: neither manifest.json/)
    expect(blobs(notImage)).toBe(0)
    // a flipped byte inside the layer: the diffID check refuses it
    const bad = Buffer.from(bytes)
    const layerAt = statSync(file).size > 3000 ? 2048 : 1024
    bad[layerAt] = (bad[layerAt] ?? 0) ^ 0xff
    const corrupt = join(tmp, "corrupt")
    const c = run(corrupt, ["load"], bad)
    expect(c.code).not.toBe(0)
    expect(c.stderr.length).toBeGreaterThan(0)
    expect(imageIds(corrupt)).toBe("")
  })

  it("import and export take - for stdin/stdout", () => {
    const exported = run(src, ["export", "busybox:1", "oci-archive:-"])
    expect(exported.code, exported.stderr).toBe(0)
    const dest = join(tmp, "dest-dash")
    const imported = run(dest, ["import", "-", "busybox:1"], exported.stdout)
    expect(imported.code, imported.stderr).toBe(0)
    expect(configDigest(dest)).toBe(configDigest(src))
    const docker = run(src, ["export", "busybox:1", "docker-archive:-"])
    expect(docker.code, docker.stderr).toBe(0)
    const dest2 = join(tmp, "dest-dash2")
    expect(run(dest2, ["import", "docker-archive:-", "again:1"], gzipSync(docker.stdout)).code).toBe(0)
    expect(run(dest2, ["cat", "again:1", "/etc/motd"]).stdout.toString("utf8")).toBe("welcome to the fixture\n")
    // stdin redirected from a file (read by its fd, not as a pipe), gzip-compressed
    const gz = join(tmp, "docker.tar.gz")
    writeFileSync(gz, gzipSync(docker.stdout))
    const fd = openSync(gz, "r")
    const dest3 = join(tmp, "dest-redirect")
    const redirected = spawnSync(process.execPath, [bin, "--root", dest3, "--progress", "none", "load"], { stdio: [fd, "pipe", "pipe"] })
    closeSync(fd)
    expect(redirected.status, redirected.stderr.toString("utf8")).toBe(0)
    expect(configDigest(dest3)).toBe(configDigest(src))
    expect(run(src, ["export", "busybox:1", "-"]).code).toBe(2)
  })

  it("refuses an unknown --format and a missing image with messages naming them", () => {
    const f = run(src, ["save", "--format", "zip", "busybox:1"])
    expect(f.code).toBe(2)
    expect(f.stderr).toMatch(/--format zip/)
    const m = run(src, ["save", "nope:1"])
    expect(m.code).toBe(1)
    expect(m.stderr).toMatch(/nope:1/)
    expect(m.stdout.length).toBe(0)
  })
})
