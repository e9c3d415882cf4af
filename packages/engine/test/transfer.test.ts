import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine, type ProgressEvent } from "../src/index.js"
import { buildLayout, busyboxLayer, haveTool, tempDir } from "./fixtures.js"
import { haveRegistry, startRegistry } from "./registryServer.js"

if (!haveRegistry) console.warn("skipping pull/push/copy: /usr/bin/docker-registry is missing (apt-get install docker-registry)")
const haveSkopeo = haveTool("skopeo")
const haveUmoci = haveTool("umoci")
if (!haveSkopeo) console.warn("skipping copies from skopeo-written archives: skopeo is not installed (Debian package skopeo)")
if (!haveUmoci) console.warn("skipping the umoci read of a copied layout: umoci is not installed (Debian package umoci)")

/** skopeo's JSON output for `args`, failing the test with its stderr. */
const skopeo = (...args: Array<string>): Record<string, unknown> => {
  const r = spawnSync("skopeo", args, { encoding: "utf8" })
  expect(r.status, r.stderr).toBe(0)
  return args[0] === "inspect" ? JSON.parse(r.stdout) : {}
}

/** The root holds no image, no index.json entry and no lease, and prune leaves no blob. */
async function nothingLeft(engine: Engine): Promise<void> {
  expect(await engine.listImages()).toEqual([])
  expect(await engine.store.index()).toEqual([])
  expect(await engine.store.leases()).toEqual([])
  await engine.prune()
  const blobs: Array<string> = []
  for await (const b of engine.store.list()) blobs.push(b.digest)
  expect(blobs).toEqual([])
}

describe.skipIf(!haveRegistry)("pull, push and copy against docker-registry", () => {
  let dir: string
  let registry: { host: string; stop: () => Promise<void> }
  let source: Engine
  let digest: string
  beforeAll(async () => {
    dir = tempDir()
    registry = await startRegistry()
    const built = buildLayout(join(dir, "src"), "bb", [busyboxLayer, { files: { "etc/motd": "pulled\n" } }, { files: { "x/y.txt": "y\n" } }])
    digest = built.manifestDigest
    source = await Engine.open({ root: join(dir, "source") })
    await source.importImage(`oci:${join(dir, "src")}:bb`, "bb:1")
  })
  afterAll(async () => {
    await source.close()
    await registry.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("pushes a local image with the same manifest digest", async () => {
    const r = await source.push("bb:1", `${registry.host}/test/bb:1`)
    expect(r.digest).toBe(digest)
  })

  it("pulls into a fresh root, extracting every layer, and a second pull moves no blob bytes", async () => {
    const engine = await Engine.open({ root: join(dir, "pulled") })
    const events: Array<ProgressEvent> = []
    engine.on("progress", (e) => events.push(e))
    const img = await engine.pull(`${registry.host}/test/bb:1`)
    expect(img).toMatchObject({ name: `${registry.host}/test/bb:1`, digest, layers: 3 })
    const inspect = await engine.inspectImage(img.digest)
    expect(inspect.layers.every((l) => l.snapshot)).toBe(true)
    expect(events.filter((e) => e.phase === "download" && e.bytes > 0).length).toBeGreaterThan(0)
    expect(events.filter((e) => e.kind === "layer" && e.phase === "done")).toHaveLength(3)
    const c = await engine.createContainer(img.digest)
    const mp = await engine.mountContainer(c.id)
    expect(readFileSync(join(mp, "etc", "motd"), "utf8")).toBe("pulled\n")
    await engine.removeContainer(c.id, { force: true })

    events.length = 0
    const again = await engine.pull(`${registry.host}/test/bb:1`, "again")
    expect(again.digest).toBe(digest)
    expect(events.filter((e) => e.phase === "download" && e.bytes > 0)).toEqual([])
    expect(events.filter((e) => e.kind === "layer" && e.phase === "done")).toEqual([])
    await engine.close()
  })

  it("checks both digests of a layer blob the root already held, though the pull verified the others in its store", async () => {
    const root = join(dir, "held")
    const engine = await Engine.open({ root })
    // the root holds the motd layer's blob already, with bytes that no longer match its digest but
    // still hold the same tar (another gzip header OS byte, RFC 1952 §2.3): the pull skips the
    // download, and only the extraction's blob-digest check can notice
    const blob = (d: string) => readFileSync(join(dir, "src", "blobs", "sha256", d.slice(7)))
    const manifest = JSON.parse(blob(digest).toString("utf8"))
    const layer = manifest.layers[1]
    const base = JSON.parse(blob(manifest.config.digest).toString("utf8")).rootfs.diff_ids[0] as string
    const gz = blob(layer.digest)
    gz[9] = gz[9] === 0xff ? 0x03 : 0xff
    writeFileSync(join(root, "blobs", "sha256", layer.digest.slice(7)), gz)
    await expect(engine.pull(`${registry.host}/test/bb:1`)).rejects.toThrow(/layer blob digest mismatch/)
    // the base layer, downloaded by this pull, was extracted below it (its chainID is its diffID)
    expect(existsSync(join(root, "snapshots", base.slice(7), "meta.json"))).toBe(true)
    await engine.close()
  })

  it("copies between registry, layouts, archives and the local store", async () => {
    const engine = await Engine.open({ root: join(dir, "copier") })
    expect(await engine.copy(`docker://${registry.host}/test/bb:1`, `oci:${join(dir, "out")}:copied`)).toEqual({ digest })
    expect((await engine.listImages()).length).toBe(0) // through the store, nothing left as an image
    expect(await engine.copy(`oci:${join(dir, "out")}:copied`, `docker://${registry.host}/other/bb:2`)).toEqual({ digest })
    expect(await engine.copy(`docker://${registry.host}/other/bb:2`, "local:mine:2")).toEqual({ digest })
    expect(await engine.copy("local:mine:2", `oci-archive:${join(dir, "mine.tar")}`)).toEqual({ digest })
    const index = JSON.parse(readFileSync(join(dir, "out", "index.json"), "utf8"))
    expect(index.manifests[0].digest).toBe(digest)
    await engine.close()
  })

  describe.skipIf(!haveSkopeo)("copy from archives, through the store and leased", () => {
    let built: ReturnType<typeof buildLayout>
    let dockerArchive: string
    let ociArchive: string
    beforeAll(() => {
      built = buildLayout(join(dir, "arch-src"), "bb", [busyboxLayer, { files: { "etc/motd": "archived\n" } }])
      dockerArchive = join(dir, "skopeo.docker.tar")
      ociArchive = join(dir, "skopeo.oci.tar")
      skopeo("copy", `oci:${join(dir, "arch-src")}:bb`, `docker-archive:${dockerArchive}:busybox:arch`)
      skopeo("copy", `oci:${join(dir, "arch-src")}:bb`, `oci-archive:${ociArchive}:bb:arch`)
    })

    it("copies a skopeo-written docker-archive to a registry, where skopeo reads the same manifest and layers", async () => {
      const engine = await Engine.open({ root: join(dir, "from-docker-archive") })
      const r = await engine.copy(`docker-archive:${dockerArchive}`, `docker://${registry.host}/arch/bb:1`)
      const ref = `docker://${registry.host}/arch/bb:1`
      expect(skopeo("inspect", "--tls-verify=false", ref).Digest).toBe(r.digest)
      // docker-archive holds no manifest: cairn writes one, so compare what it describes
      const config = skopeo("inspect", "--tls-verify=false", "--config", ref) as { rootfs: { diff_ids: Array<string> } }
      expect(config.rootfs.diff_ids).toEqual(built.diffIds)
      const pushed = skopeo("inspect", "--tls-verify=false", "--raw", ref) as unknown as { layers: Array<{ digest: string }> }
      const archived = JSON.parse(execFileSync("tar", ["-xOf", dockerArchive, "manifest.json"], { encoding: "utf8" }))[0].Layers as Array<string>
      expect(pushed.layers.map((l) => l.digest.slice(7))).toEqual(archived.map((l) => execFileSync("sh", ["-c", `tar -xOf '${dockerArchive}' '${l}' | sha256sum`], { encoding: "utf8" }).slice(0, 64)))
      await nothingLeft(engine)
      // the same archive without its last layer: cas's typed error, and still nothing in the root
      const broken = join(dir, "broken")
      execFileSync("mkdir", ["-p", broken])
      execFileSync("tar", ["-C", broken, "-xf", dockerArchive])
      rmSync(join(broken, archived.at(-1)!))
      execFileSync("tar", ["-C", broken, "-cf", join(dir, "broken.tar"), "."])
      await expect(engine.copy(`docker-archive:${join(dir, "broken.tar")}`, `docker://${registry.host}/arch/broken:1`)).rejects.toMatchObject({
        _tag: "ArchiveFormatError",
        reason: `layer ${archived.at(-1)} named in manifest.json is not in the archive`
      })
      await nothingLeft(engine)
      await engine.close()
    })

    it("copies an oci-archive to an OCI layout that skopeo and umoci read, with the manifest digest unchanged", async () => {
      const engine = await Engine.open({ root: join(dir, "from-oci-archive") })
      const out = join(dir, "arch-out")
      expect(await engine.copy(`oci-archive:${ociArchive}:bb:arch`, `oci:${out}:copied`)).toEqual({ digest: built.manifestDigest })
      expect(skopeo("inspect", `oci:${out}:copied`).Digest).toBe(built.manifestDigest)
      if (haveUmoci) {
        const ls = spawnSync("umoci", ["ls", "--layout", out], { encoding: "utf8" })
        expect(ls.status, ls.stderr).toBe(0)
        expect(ls.stdout.split("\n")).toContain("copied")
        const stat = spawnSync("umoci", ["stat", "--image", `${out}:copied`, "--json"], { encoding: "utf8" })
        expect(stat.status, stat.stderr).toBe(0)
      }
      await nothingLeft(engine)
      await engine.close()
    })

    it("copies between the two archive kinds, each read back by skopeo", async () => {
      const engine = await Engine.open({ root: join(dir, "archive-to-archive") })
      const asDocker = join(dir, "converted.docker.tar")
      const asOci = join(dir, "converted.oci.tar")
      expect(await engine.copy(`oci-archive:${ociArchive}`, `docker-archive:${asDocker}:conv/bb:2`)).toEqual({ digest: built.manifestDigest })
      const fromDocker = skopeo("inspect", "--config", `docker-archive:${asDocker}`) as { rootfs: { diff_ids: Array<string> } }
      expect(fromDocker.rootfs.diff_ids).toEqual(built.diffIds)
      expect(JSON.parse(execFileSync("tar", ["-xOf", asDocker, "manifest.json"], { encoding: "utf8" }))[0].RepoTags).toEqual(["conv/bb:2"])
      const r = await engine.copy(`docker-archive:${dockerArchive}:busybox:arch`, `oci-archive:${asOci}:conv`)
      expect(skopeo("inspect", `oci-archive:${asOci}:conv`).Digest).toBe(r.digest)
      const fromOci = skopeo("inspect", "--config", `oci-archive:${asOci}:conv`) as { rootfs: { diff_ids: Array<string> } }
      expect(fromOci.rootfs.diff_ids).toEqual(built.diffIds)
      await nothingLeft(engine)
      await engine.close()
    })

    it("names the images of a multi-image archive when its :REF is missing or unknown, leaving nothing behind", async () => {
      const layout = join(dir, "multi")
      const one = buildLayout(layout, "one", [busyboxLayer])
      const two = buildLayout(layout, "two", [busyboxLayer, { files: { "two.txt": "2\n" } }])
      const multi = join(dir, "multi.oci.tar")
      execFileSync("tar", ["-C", layout, "-cf", multi, "."]) // an oci-archive is a tarred OCI layout
      const engine = await Engine.open({ root: join(dir, "multi-root") })
      const out = `oci:${join(dir, "multi-out")}:x`
      await expect(engine.copy(`oci-archive:${multi}`, out)).rejects.toMatchObject({
        _tag: "InvalidSourceError",
        source: `oci-archive:${multi}`,
        reason: "it holds 2 images (one, two): name one with :REF"
      })
      await expect(engine.copy(`oci-archive:${multi}:three`, `docker://${registry.host}/multi/x:1`)).rejects.toMatchObject({
        _tag: "InvalidSourceError",
        reason: 'no image named "three"; it has one, two'
      })
      expect(existsSync(join(dir, "multi-out"))).toBe(false)
      await nothingLeft(engine)
      expect(await engine.copy(`oci-archive:${multi}:two`, out)).toEqual({ digest: two.manifestDigest })
      expect(await engine.copy(`oci-archive:${multi}:one`, `docker://${registry.host}/multi/one:1`)).toEqual({ digest: one.manifestDigest })
      await nothingLeft(engine)
      await engine.close()
    })
  })
})
