import { execFileSync } from "node:child_process"
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Store } from "../src/index.js"
import { cutOff, tempDir } from "./tempLayout.js"
import { haveSkopeo, haveUmoci, run, umociImage } from "./toolImage.js"

const both = haveSkopeo && haveUmoci

describe("interop with umoci and skopeo", () => {
  it.skipIf(!haveUmoci)("reads a layout umoci wrote, fsck-clean, with its tags", async () => {
    const dir = umociImage(join(tempDir(), "umoci"))
    const store = await Store.open(dir, { create: false })
    expect((await store.tags()).map((t) => t.name)).toEqual(["base"])
    const report = await store.fsck()
    expect(report.ok).toBe(true)
    // umoci keeps the pre-insert manifest and config until `umoci gc`: orphans, not errors
    expect(report.blobs - report.orphans.length).toBe(3)
    run("umoci", ["gc", "--layout", dir])
    expect((await store.fsck()).orphans).toEqual([])
  })

  it.skipIf(!both)("writes a layout skopeo inspect and umoci stat read, ingest/ and leases/ beside blobs notwithstanding", async () => {
    const src = await Store.open(umociImage(join(tempDir(), "umoci")))
    const dir = join(tempDir(), "cairn")
    const store = await Store.open(dir)
    const report = await src.copyTo(store, ["base", { descriptor: await src.resolve("base"), tag: "docker.io/library/busybox:1.36" }])
    expect(report.copied.length).toBe(3)
    // leave working state behind as a crash would: a partial ingest, a lease, a lock
    const data = Buffer.alloc(10_000, 1)
    await store.put({ digest: `sha256:${"ab".repeat(32)}`, size: 10_000 }, cutOff(data, 5000)).catch(() => {})
    await store.createLease()
    expect(await store.ingestOffset(`sha256:${"ab".repeat(32)}`)).toBe(5000)
    const inspect = JSON.parse(run("skopeo", ["inspect", `oci:${dir}:base`]))
    expect(inspect.Layers).toHaveLength(1)
    expect(run("umoci", ["stat", "--image", `${dir}:base`])).toContain("umoci insert")
    expect(run("umoci", ["ls", "--layout", dir]).split("\n").sort()).toContain("base")
    JSON.parse(run("skopeo", ["inspect", `oci:${dir}:docker.io/library/busybox:1.36`]))
    // and skopeo and umoci can write into a cairn layout, which stays fsck-clean with its working state
    run("skopeo", ["copy", `oci:${dir}:base`, `oci:${dir}:again`])
    run("umoci", ["gc", "--layout", dir])
    expect((await store.fsck()).ok).toBe(true)
    expect((await store.tags()).map((t) => t.name).sort()).toEqual(["again", "base", "docker.io/library/busybox:1.36"])
    expect(await store.ingestOffset(`sha256:${"ab".repeat(32)}`)).toBe(5000)
    // exportLayout writes a fresh layout holding just the named images
    const out = join(tempDir(), "exported")
    await store.exportLayout(out, ["again"])
    expect(JSON.parse(run("skopeo", ["inspect", `oci:${out}:again`])).Layers).toHaveLength(1)
    expect((await (await Store.open(out)).fsck()).blobs).toBe(3)
  })

  it.skipIf(!both)("imports docker-archive and oci-archive tarballs skopeo wrote", async () => {
    const tmp = tempDir()
    const lay = umociImage(join(tmp, "umoci"))
    run("skopeo", ["copy", `oci:${lay}:base`, `docker-archive:${tmp}/d.tar:busybox:latest`])
    run("skopeo", ["copy", `oci:${lay}:base`, `oci-archive:${tmp}/o.tar:mytag`])
    const store = await Store.open(join(tmp, "cairn"))
    const d = await store.importArchive(join(tmp, "d.tar"))
    expect(d.format).toBe("docker-archive")
    expect(d.images[0]?.tags).toEqual(["docker.io/library/busybox:latest"]) // skopeo writes the normalized name
    const o = await store.importArchive(createReadStream(join(tmp, "o.tar")))
    expect(o.format).toBe("oci-archive")
    expect(o.images[0]?.tags).toEqual(["mytag"])
    const fsck = await store.fsck()
    expect(fsck.ok).toBe(true)
    expect(fsck.orphans).toEqual([])
    // the synthesized manifest is one skopeo and umoci accept, with the same layer diffIDs
    const inspect = JSON.parse(run("skopeo", ["inspect", "--config", `oci:${store.root}:docker.io/library/busybox:latest`]))
    const orig = JSON.parse(run("skopeo", ["inspect", "--config", `oci:${lay}:base`]))
    expect(inspect.rootfs.diff_ids).toEqual(orig.rootfs.diff_ids)
    expect(run("umoci", ["stat", "--image", `${store.root}:docker.io/library/busybox:latest`])).toContain("umoci insert")
  })

  it.skipIf(!both)("exports docker-archive and oci-archive tarballs skopeo copies", async () => {
    const tmp = tempDir()
    const src = await Store.open(umociImage(join(tmp, "umoci")))
    await src.tag("busybox:1.36", await src.resolve("base"))
    await src.exportDockerArchive(["busybox:1.36"], join(tmp, "d.tar"))
    await src.exportOciArchive(["base"], join(tmp, "o.tar"))
    const members = execFileSync("tar", ["tf", join(tmp, "d.tar")], { encoding: "utf8" })
    expect(members).toContain("manifest.json")
    const manifest = JSON.parse(execFileSync("tar", ["xOf", join(tmp, "d.tar"), "manifest.json"], { encoding: "utf8" }))
    expect(manifest[0].RepoTags).toEqual(["busybox:1.36"])
    run("skopeo", ["copy", `docker-archive:${tmp}/d.tar`, `oci:${tmp}/out:fromdocker`])
    run("skopeo", ["copy", `oci-archive:${tmp}/o.tar:base`, `oci:${tmp}/out:fromoci`])
    const out = await Store.open(join(tmp, "out"))
    expect((await out.fsck()).ok).toBe(true)
    const a = JSON.parse(run("skopeo", ["inspect", "--config", `oci:${tmp}/out:fromdocker`]))
    const b = JSON.parse(run("skopeo", ["inspect", "--config", `oci:${tmp}/out:fromoci`]))
    expect(a.rootfs.diff_ids).toEqual(b.rootfs.diff_ids)
    // and cairn reads its own archives back
    const back = await Store.open(join(tmp, "back"))
    await back.importArchive(join(tmp, "d.tar"))
    await back.importArchive(join(tmp, "o.tar"))
    expect((await back.tags()).map((t) => t.name).sort()).toEqual(["base", "busybox:1.36"])
    expect((await back.fsck()).ok).toBe(true)
  })

  it.skipIf(!both)("imports the newer docker save format that embeds an OCI layout", async () => {
    const tmp = tempDir()
    const lay = umociImage(join(tmp, "umoci"))
    const root = join(tmp, "save")
    run("skopeo", ["copy", `oci:${lay}:base`, `oci:${root}:latest`])
    // what Docker 25+ writes: an OCI layout with containerd's name annotation, plus manifest.json
    const index = JSON.parse(readFileSync(join(root, "index.json"), "utf8"))
    const m = index.manifests[0]
    m.annotations["io.containerd.image.name"] = "docker.io/library/busybox:latest"
    writeFileSync(join(root, "index.json"), JSON.stringify(index))
    const manifest = JSON.parse(readFileSync(join(root, "blobs", "sha256", m.digest.slice(7)), "utf8"))
    writeFileSync(
      join(root, "manifest.json"),
      JSON.stringify([
        {
          Config: `blobs/sha256/${manifest.config.digest.slice(7)}`,
          RepoTags: ["busybox:latest"],
          Layers: manifest.layers.map((l: { digest: string }) => `blobs/sha256/${l.digest.slice(7)}`)
        }
      ])
    )
    mkdirSync(join(tmp, "out"))
    execFileSync("tar", ["cf", join(tmp, "out", "save.tar"), "-C", root, "."])
    const store = await Store.open(join(tmp, "cairn"))
    const r = await store.importArchive(join(tmp, "out", "save.tar"))
    expect(r.format).toBe("docker-archive")
    expect(r.images[0]?.tags).toEqual(["docker.io/library/busybox:latest"])
    expect((await store.resolve("docker.io/library/busybox:latest")).digest).toBe(m.digest)
    expect((await store.fsck()).ok).toBe(true)
  })
})
