import { execFileSync, spawnSync } from "node:child_process"
import { createReadStream, existsSync, readFileSync, writeFileSync, unlinkSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { readTar } from "@cairn/overlay"
import { createGunzip } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, busyboxLayer, disposeEngine, haveTool, tempDir } from "./fixtures.js"

const haveUmoci = haveTool("umoci")
const haveSkopeo = haveTool("skopeo")
if (!haveUmoci) console.warn("skipping umoci comparison: umoci is not installed (Debian package umoci)")
if (!haveSkopeo) console.warn("skipping skopeo copy: skopeo is not installed (Debian package skopeo)")

/** `find`-style listing of a tree: path, type, mode, size, link target (what two unpacks must agree on). */
function listing(dir: string): Array<string> {
  return execFileSync("find", [".", "-mindepth", "1", "-printf", "%p %y %m %s %l\n"], { cwd: dir, encoding: "utf8" })
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (/ d \d+ /.test(l) ? l.replace(/ (d \d+) \d+ /, " $1 - ") : l)) // directory sizes depend on the filesystem
    .sort()
}

async function layerEntries(file: string): Promise<Array<string>> {
  const out: Array<string> = []
  for await (const e of readTar(createReadStream(file).pipe(createGunzip()))) {
    out.push(e.header.path.toString("utf8"))
    for await (const _ of e.body) {
    }
  }
  return out.sort()
}

describe("busybox end to end: import, container, commit, interop", () => {
  let dir: string
  let root: string
  let engine: Engine

  beforeAll(async () => {
    dir = tempDir()
    root = join(dir, "root")
    buildLayout(join(dir, "src"), "busybox", [busyboxLayer, { files: { "etc/motd": "welcome\n", "srv/keep.txt": "keep\n" } }], {
      Cmd: ["/bin/sh"]
    })
    engine = await Engine.open({ root })
    await engine.importImage(`oci:${join(dir, "src")}:busybox`, "busybox:1")
  })
  afterAll(() => disposeEngine(engine, dir))

  it("commits a container's changes as one layer with the right whiteout and history", async () => {
    const c = await engine.createContainer("busybox:1", { name: "work" })
    const mp = await engine.mountContainer("work")
    writeFileSync(join(mp, "srv", "new.txt"), "new\n")
    writeFileSync(join(mp, "etc", "motd"), "changed\n")
    unlinkSync(join(mp, "srv", "keep.txt"))
    mkdirSync(join(mp, "opt"))
    const diff = await engine.diffContainer("work")
    expect(diff).toEqual(
      expect.arrayContaining([
        { kind: "A", path: "/srv/new.txt" },
        { kind: "C", path: "/etc/motd" },
        { kind: "D", path: "/srv/keep.txt" },
        { kind: "A", path: "/opt" }
      ])
    )
    // nothing outside the upper dir changed
    const base = await engine.inspectImage("busybox:1")
    const top = join(root, "snapshots", base.layers[1]!.chainId.slice(7), "fs")
    expect(readFileSync(join(top, "srv", "keep.txt"), "utf8")).toBe("keep\n")

    const img = await engine.commitContainer("work", { name: "busybox:2", message: "edit motd" })
    expect(img.layers).toBe(3)
    const inspect = await engine.inspectImage("busybox:2")
    expect(inspect.config.rootfs.diff_ids.slice(0, 2)).toEqual(base.config.rootfs.diff_ids)
    expect(inspect.layers.every((l) => l.snapshot)).toBe(true)
    const rows = await engine.history("busybox:2")
    expect(rows[0]).toMatchObject({ createdBy: "cairn commit", comment: "edit motd", emptyLayer: false })
    const layerFile = join(root, "blobs", "sha256", inspect.layers[2]!.digest.slice(7))
    const entries = await layerEntries(layerFile)
    expect(entries).toContain("srv/.wh.keep.txt")
    expect(entries).toContain("srv/new.txt")
    expect(entries).toContain("etc/motd")
    expect(entries.some((e) => e.includes("busybox"))).toBe(false)
    // the container keeps working after the commit, the image stays after the container goes
    await engine.unmountContainer(c.id)
    await engine.removeContainer(c.id)
    expect((await engine.listImages()).map((i) => i.name).sort()).toEqual(["busybox:1", "busybox:2"])
  })

  it("reads files without mounting: ls and cat through the merged view", async () => {
    const names = (await engine.listFiles("busybox:2", "/srv")).map((f) => f.name)
    expect(names).toEqual(["new.txt"])
    const chunks: Array<Buffer> = []
    for await (const c of await engine.readFile("busybox:2", "/etc/motd")) chunks.push(c as Buffer)
    expect(Buffer.concat(chunks).toString()).toBe("changed\n")
    await expect(engine.readFile("busybox:2", "/srv/keep.txt")).rejects.toMatchObject({ _tag: "PathNotFoundInImageError" })
    const analysis = await engine.analyze("busybox:2")
    expect(analysis).toHaveLength(3)
    expect(analysis[1]!.bytesWasted).toBeGreaterThan(0) // motd and keep.txt were shadowed/deleted above
  })

  it.skipIf(!haveUmoci)("umoci raw unpack of the committed image, read from cairn's root, equals cairn's unpack", async () => {
    const ours = join(dir, "ours")
    const theirs = join(dir, "theirs")
    await engine.unpack("busybox:2", ours)
    execFileSync("umoci", ["raw", "unpack", "--image", `${root}:busybox:2`, theirs], { stdio: "pipe" })
    expect(listing(ours)).toEqual(listing(theirs))
    expect(existsSync(join(ours, "srv", "keep.txt"))).toBe(false)
  })

  it.skipIf(!haveSkopeo)("skopeo copies the committed image out of the store", async () => {
    const other = join(dir, "other")
    const r = spawnSync("skopeo", ["copy", `oci:${root}:busybox:2`, `oci:${other}:busybox:2`], { encoding: "utf8" })
    expect(r.stderr).not.toMatch(/FATA|error/i)
    expect(r.status).toBe(0)
    const index = JSON.parse(readFileSync(join(other, "index.json"), "utf8"))
    expect(index.manifests[0].digest).toBe((await engine.inspectImage("busybox:2")).digest)
  })

  it("flattens an image into one layer with the same tree, and exports a container's tree", async () => {
    const flat = await engine.flatten("busybox:2", "busybox:flat")
    expect(flat.layers).toBe(1)
    const a = join(dir, "flat-a")
    const b = join(dir, "flat-b")
    await engine.unpack("busybox:flat", a)
    await engine.unpack("busybox:2", b)
    expect(listing(a)).toEqual(listing(b))
    const c = await engine.createContainer("busybox:1")
    const mp = await engine.mountContainer(c.id)
    writeFileSync(join(mp, "hello.txt"), "hi\n")
    const tarFile = join(dir, "export.tar")
    await engine.exportFs(c.id, tarFile)
    const names = execFileSync("tar", ["-tf", tarFile], { encoding: "utf8" }).split("\n")
    expect(names).toContain("hello.txt")
    expect(names).toContain("bin/busybox")
    await engine.removeContainer(c.id, { force: true })
  })
})
