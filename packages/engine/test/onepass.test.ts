// No work done twice (issue #13) and no partial output (issue #14 item 9): unpack and bundle
// straight from oci:/oci-archive:/docker-archive: sources, import --no-unpack, a flat unpack
// copied from existing snapshots, and a failed unpack/bundle that leaves nothing behind.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { type BuiltImage, buildLayout, busyboxLayer, haveTool, mountinfoLines, tempDir } from "./fixtures.js"

const haveUmoci = haveTool("umoci")
const haveSkopeo = haveTool("skopeo")
const haveGetfattr = haveTool("getfattr")
if (!haveUmoci) console.warn("skipping the umoci comparisons: umoci is not installed (Debian package umoci)")
if (!haveSkopeo) console.warn("skipping the archive sources: skopeo is not installed (Debian package skopeo)")

/** Every entry of a tree: path, type, mode, owner, size, link count, link target, mtime, and its xattrs. */
function listing(dir: string): Array<string> {
  const lines = execFileSync("find", [".", "-mindepth", "1", "-printf", "%p %y %m %U:%G %s %n %l %T@\n"], { cwd: dir, encoding: "utf8" })
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (/ d \d+ /.test(l) ? l.replace(/^(\S+ d \S+ \S+) \d+ /, "$1 - ") : l)) // directory sizes depend on the filesystem
  const xattrs = haveGetfattr
    ? execFileSync("getfattr", ["-R", "-P", "-d", "-m", "-", "--absolute-names", "."], { cwd: dir, encoding: "utf8" })
        .split("\n\n")
        .filter((b) => b.trim() !== "")
        .map((b) => b.trim().replace(/\n/g, " "))
    : []
  return [...lines, ...xattrs].sort()
}

const layers = [
  busyboxLayer,
  { files: { "etc/motd": "hi\n", "usr/share/doc/a.txt": "a\n" }, whiteouts: ["bin/ls"] },
  { files: { "usr/share/doc/b.txt": "b\n" }, whiteouts: ["usr/share/doc/a.txt"] }
]

describe("unpack and bundle without work done twice, nothing half-written", () => {
  let dir: string
  let src: string
  let built: BuiltImage
  let engine: Engine
  let root: string

  beforeAll(async () => {
    dir = tempDir()
    src = join(dir, "src")
    built = buildLayout(src, "bb", layers, { Cmd: ["/bin/sh"] })
    root = join(dir, "root")
    engine = await Engine.open({ root })
  })
  afterAll(async () => {
    for (const c of await engine.listContainers()) await engine.removeContainer(c.id, { force: true })
    await engine.close()
    expect(mountinfoLines(dir)).toEqual([])
    rmSync(dir, { recursive: true, force: true })
  })

  const storeIsEmpty = () => {
    expect(readdirSync(join(root, "blobs", "sha256"))).toEqual([])
    expect(readdirSync(join(root, "snapshots"))).toEqual([])
    expect(JSON.parse(readFileSync(join(root, "index.json"), "utf8")).manifests).toEqual([])
  }

  it.skipIf(!haveUmoci)("unpacks oci:DIR:REF where it lies, as umoci raw unpack --image does, and stores nothing", async () => {
    const ours = join(dir, "oci-ours")
    const theirs = join(dir, "oci-umoci")
    await engine.unpack(`oci:${src}:bb`, ours)
    execFileSync("umoci", ["raw", "unpack", "--image", `${src}:bb`, theirs], { stdio: "pipe" })
    expect(listing(ours)).toEqual(listing(theirs))
    expect(existsSync(join(ours, "bin", "ls"))).toBe(false)
    expect(existsSync(join(ours, "usr", "share", "doc", "a.txt"))).toBe(false)
    storeIsEmpty()
  })

  it.skipIf(!haveUmoci || !haveSkopeo)("unpacks and bundles oci-archive: and docker-archive: sources, equal to umoci's unpack, storing nothing", async () => {
    const theirs = join(dir, "arch-umoci")
    execFileSync("umoci", ["raw", "unpack", "--image", `${src}:bb`, theirs], { stdio: "pipe" })
    const ociArchive = join(dir, "bb.oci.tar")
    const dockerArchive = join(dir, "bb.docker.tar")
    for (const [from, to] of [
      [`oci:${src}:bb`, `oci-archive:${ociArchive}:bb`],
      [`oci:${src}:bb`, `docker-archive:${dockerArchive}:bb:latest`]
    ] as const) {
      const r = spawnSync("skopeo", ["copy", from, to], { encoding: "utf8" })
      expect(r.status, r.stderr).toBe(0)
    }
    for (const source of [`oci-archive:${ociArchive}:bb`, `docker-archive:${dockerArchive}`]) {
      const out = join(dir, `u-${source.split(":")[0]}`)
      await engine.unpack(source, out)
      expect(listing(out)).toEqual(listing(theirs))
      const b = join(dir, `b-${source.split(":")[0]}`)
      await engine.bundle(source, b)
      expect(listing(join(b, "rootfs"))).toEqual(listing(theirs))
      expect(JSON.parse(readFileSync(join(b, "config.json"), "utf8")).process.args).toEqual(["/bin/sh"])
      storeIsEmpty()
    }
    // the scratch store of an archive goes with the operation
    expect(readdirSync(join(root, "snapshots"))).toEqual([])
  })

  it("unpack --keep stores the source's image without extracting snapshots", async () => {
    const other = await Engine.open({ root: join(dir, "root-keep") })
    try {
      await other.unpack(`oci:${src}:bb`, join(dir, "kept"), { keep: true })
      const img = await other.inspectImage("bb")
      expect(img.digest).toBe(built.manifestDigest)
      expect(img.layers.map((l) => l.snapshot)).toEqual([false, false, false])
    } finally {
      await other.close()
    }
  })

  it("import --no-unpack defers the snapshots to first use; create and mount make them", async () => {
    const other = await Engine.open({ root: join(dir, "root-lazy") })
    const events: Array<string> = []
    other.on("progress", (e) => {
      if (e.kind === "layer" && e.phase === "done") events.push(e.digest)
    })
    try {
      await other.importImage(`oci:${src}:bb`, "lazy:1", { unpack: false })
      expect((await other.inspectImage("lazy:1")).layers.map((l) => l.snapshot)).toEqual([false, false, false])
      expect(readdirSync(join(dir, "root-lazy", "snapshots"))).toEqual([])
      expect(events).toEqual([])
      await other.createContainer("lazy:1", { name: "c" })
      expect((await other.inspectImage("lazy:1")).layers.map((l) => l.snapshot)).toEqual([true, true, true])
      expect(events.sort()).toEqual([...built.layerDigests].sort())
      const mp = await other.mountContainer("c")
      expect(readFileSync(join(mp, "etc", "motd"), "utf8")).toBe("hi\n")
      expect(existsSync(join(mp, "bin", "ls"))).toBe(false)
      await other.unmountContainer("c")
      await other.removeContainer("c")
    } finally {
      // a failed assertion above must not leave the container mounted
      await other.removeContainer("c", { force: true }).catch(() => {})
      await other.close()
    }
  })

  it.skipIf(!haveUmoci)("a flat unpack of an image with snapshots (copied from them) equals the one from its blobs and umoci's", async () => {
    const other = await Engine.open({ root: join(dir, "root-snap") })
    try {
      await other.importImage(`oci:${src}:bb`, "snap:1")
      await other.importImage(`oci:${src}:bb`, "blobs:1", { unpack: false })
      const fromSnapshots = join(dir, "from-snapshots")
      await other.unpack("snap:1", fromSnapshots)
      // the same image with its snapshots removed: extracted from the blobs
      rmSync(join(dir, "root-snap", "snapshots"), { recursive: true })
      execFileSync("mkdir", [join(dir, "root-snap", "snapshots")])
      const fromBlobs = join(dir, "from-blobs")
      await other.unpack("blobs:1", fromBlobs)
      const theirs = join(dir, "snap-umoci")
      execFileSync("umoci", ["raw", "unpack", "--image", `${src}:bb`, theirs], { stdio: "pipe" })
      expect(listing(fromSnapshots)).toEqual(listing(fromBlobs))
      expect(listing(fromSnapshots)).toEqual(listing(theirs))
    } finally {
      await other.close()
    }
  })

  it("a flat unpack of an image with snapshots reads none of its blobs (a root given as a relative path too)", async () => {
    const abs = join(dir, "root-rel")
    // a root relative to the working directory, as `cairn --root r` gives it
    const cwd = process.cwd()
    process.chdir(dir)
    const other = await Engine.open({ root: "root-rel" })
    try {
      await other.importImage(`oci:${src}:bb`, "snap:1")
      // every layer blob damaged after the snapshots were made: only a copy from the snapshots succeeds
      for (const d of built.layerDigests) {
        const blob = join(abs, "blobs", "sha256", d.slice(7))
        const bytes = readFileSync(blob)
        bytes[Math.floor(bytes.length / 2)]! ^= 0xff
        rmSync(blob)
        writeFileSync(blob, bytes)
      }
      const out = join(dir, "from-snapshots-rel")
      await other.unpack("snap:1", "from-snapshots-rel")
      expect(readFileSync(join(out, "etc", "motd"), "utf8")).toBe("hi\n")
      expect(existsSync(join(out, "usr", "share", "doc", "b.txt"))).toBe(true)
      expect(existsSync(join(out, "usr", "share", "doc", "a.txt"))).toBe(false)
    } finally {
      await other.close()
      process.chdir(cwd)
    }
  })

  it("a corrupt layer blob fails unpack and bundle naming the layer, and leaves no partial output", async () => {
    const other = await Engine.open({ root: join(dir, "root-bad") })
    try {
      await other.importImage(`oci:${src}:bb`, "bad:1", { unpack: false })
      // the busybox layer's blob, bytes flipped past its first half: bin/busybox is half written when the check fails
      const blob = join(dir, "root-bad", "blobs", "sha256", built.layerDigests[0]!.slice(7))
      const bytes = readFileSync(blob)
      for (let i = Math.floor(bytes.length * 0.9); i < bytes.length - 16; i += 97) bytes[i]! ^= 0xff
      rmSync(blob)
      writeFileSync(blob, bytes)
      const out = join(dir, "bad-unpack")
      const e = await other.unpack("bad:1", out).catch((x: unknown) => x)
      expect(e).toMatchObject({ _tag: "LayerApplyError", index: 0, layers: 3, digest: built.layerDigests[0] })
      expect(String((e as Error).message)).toContain(`layer 1 of 3 (${built.layerDigests[0]})`)
      expect(existsSync(out)).toBe(false)
      const b = join(dir, "bad-bundle")
      execFileSync("mkdir", [b]) // an empty target stays empty
      await expect(other.bundle("bad:1", b)).rejects.toMatchObject({ _tag: "LayerApplyError", index: 0 })
      expect(readdirSync(b)).toEqual([])
      // no temporary sibling either
      expect(readdirSync(dirname(out)).filter((n) => n.includes(".tmp-"))).toEqual([])
    } finally {
      await other.close()
    }
  })

  it("an export of an image with a corrupt layer blob fails naming the blob, and leaves no file, layout or temp sibling", async () => {
    const other = await Engine.open({ root: join(dir, "root-bad-export") })
    try {
      await other.importImage(`oci:${src}:bb`, "bad:1", { unpack: false })
      const digest = built.layerDigests[1]!
      const blob = join(dir, "root-bad-export", "blobs", "sha256", digest.slice(7))
      const bytes = readFileSync(blob)
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff
      rmSync(blob)
      writeFileSync(blob, bytes)
      const out = join(dir, "exports")
      execFileSync("mkdir", ["-p", out])
      for (const dest of [`oci-archive:${join(out, "bb.oci.tar")}`, `docker-archive:${join(out, "bb.docker.tar")}`, `oci:${join(out, "layout")}:bb`]) {
        const e = await other.exportImage("bad:1", dest).catch((x: unknown) => x)
        expect(e, dest).toBeInstanceOf(Error)
        expect(String((e as Error).message), dest).toMatch(new RegExp(digest.slice(7)))
      }
      expect(readdirSync(out)).toEqual([])
    } finally {
      await other.close()
    }
  })

  it("a corrupt blob in an oci: source fails naming it, and leaves no partial output", async () => {
    const bad = join(dir, "src-bad")
    const img = buildLayout(bad, "bb", layers)
    const blob = join(bad, "blobs", "sha256", img.layerDigests[0]!.slice(7))
    const bytes = readFileSync(blob)
    for (let i = Math.floor(bytes.length * 0.9); i < bytes.length - 16; i += 97) bytes[i]! ^= 0xff
    writeFileSync(blob, bytes)
    const out = join(dir, "bad-source-unpack")
    await expect(engine.unpack(`oci:${bad}:bb`, out)).rejects.toMatchObject({ _tag: "LayerApplyError", index: 0, digest: img.layerDigests[0] })
    expect(existsSync(out)).toBe(false)
    storeIsEmpty()
  })
})
