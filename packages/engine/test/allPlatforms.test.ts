// `pull --all-platforms`: the whole index is kept (every platform's manifest and blobs), the name
// points at the index, only this host's layers become snapshots, and push gives the registry the
// same index back. The multi-platform image is put into docker-registry by skopeo (`copy --all`).
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildIndexLayout, busyboxLayer, haveTool, tempDir } from "./fixtures.js"
import { haveRegistry, startRegistry } from "./registryServer.js"

const haveSkopeo = haveTool("skopeo")
if (!haveRegistry) console.warn("skipping pull --all-platforms: /usr/bin/docker-registry is missing (apt-get install docker-registry)")
if (!haveSkopeo) console.warn("skipping pull --all-platforms: skopeo is not installed (Debian package skopeo); it publishes the multi-platform image")

const host = process.arch === "x64" ? "amd64" : process.arch
const other = host === "arm64" ? "amd64" : "arm64"

const skopeo = (...args: Array<string>): string => {
  const r = spawnSync("skopeo", args, { encoding: "utf8" })
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

describe.skipIf(!haveRegistry || !haveSkopeo)("pull --all-platforms", () => {
  let dir: string
  let registry: { host: string; stop: () => Promise<void> }
  let built: ReturnType<typeof buildIndexLayout>
  let ref: string
  const mine = () => built.images.find((i) => i.architecture === host)!
  const theirs = () => built.images.find((i) => i.architecture === other)!

  beforeAll(async () => {
    dir = tempDir()
    registry = await startRegistry()
    built = buildIndexLayout(join(dir, "src"), "multi", [
      { architecture: host, layers: [busyboxLayer, { files: { "etc/arch": `${host}\n` } }] },
      { architecture: other, layers: [{ files: { "etc/arch": `${other}\n`, "only-there": "x\n" } }] }
    ])
    ref = `${registry.host}/test/multi:1`
    skopeo("copy", "--all", "--dest-tls-verify=false", `oci:${join(dir, "src")}:multi`, `docker://${ref}`)
  })
  afterAll(async () => {
    await registry.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("keeps the index and every platform's blobs, names the index, and extracts only this host's layers", async () => {
    const engine = await Engine.open({ root: join(dir, "all") })
    try {
      const img = await engine.pull(ref, "multi:1", { allPlatforms: true })
      expect(img.digest).toBe(built.indexDigest)
      expect(img.platform).toBe(`linux/${host}`)
      // as the index declares them (no normalized arm64/v8)
      expect(img.platforms).toEqual(built.images.map((i) => `linux/${i.architecture}`))
      expect(img.layers).toBe(2)
      const entries = await engine.store.index()
      expect(entries.map((e) => [e.digest, e.mediaType])).toEqual([[built.indexDigest, "application/vnd.oci.image.index.v1+json"]])
      // every blob of both platforms is in the store
      for (const i of built.images) {
        for (const d of [i.manifestDigest, ...i.layerDigests]) expect(existsSync(join(dir, "all", "blobs", "sha256", d.slice(7))), `${i.architecture} ${d}`).toBe(true)
      }
      // this host's image is the one used: inspect, listing and a container see its manifest and files
      const inspect = await engine.inspectImage("multi:1")
      expect(inspect.digest).toBe(built.indexDigest)
      expect(inspect.manifestDigest).toBe(mine().manifestDigest)
      expect(inspect.layers.map((l) => l.snapshot)).toEqual([true, true])
      expect((await engine.listImages()).map((i) => i.digest)).toEqual([built.indexDigest])
      const files = await engine.listFiles("multi:1", "/etc")
      expect(files.map((f) => f.path)).toContain("/etc/arch")
      // the other platform's layer was stored, not extracted: no snapshot holds it
      const snaps = (await engine.df()).snapshots.map((s) => s.diffId)
      expect(snaps).toEqual(expect.arrayContaining([...mine().diffIds]))
      expect(snaps).not.toContain(theirs().diffIds[0])
      // prune keeps all of it: the index is a root, and its host snapshots are in use
      await engine.prune()
      for (const d of theirs().layerDigests) expect(existsSync(join(dir, "all", "blobs", "sha256", d.slice(7)))).toBe(true)
      expect((await engine.inspectImage("multi:1")).layers.map((l) => l.snapshot)).toEqual([true, true])
      // a container made from it records the host's manifest; the image cannot go while it exists
      const c = await engine.createContainer("multi:1")
      await expect(engine.removeImage("multi:1")).rejects.toThrow(/in use|used by/)
      await engine.removeContainer(c.id)
      // push gives the registry the very same index, with both platforms
      const pushed = await engine.push("multi:1", `${registry.host}/test/again:1`)
      expect(pushed.digest).toBe(built.indexDigest)
      const raw = JSON.parse(skopeo("inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/test/again:1`)) as { manifests: Array<{ digest: string }> }
      expect(raw.manifests.map((m) => m.digest)).toEqual(built.images.map((i) => i.manifestDigest))
      // skopeo can take every platform of what cairn pushed: each blob is really there
      skopeo("copy", "--all", "--src-tls-verify=false", `docker://${registry.host}/test/again:1`, `oci:${join(dir, "back")}:again`)
      const backIndex = JSON.parse(readFileSync(join(dir, "back", "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
      expect(backIndex.manifests[0]!.digest).toBe(built.indexDigest)
      // and removing the image takes it all away, the other platform's blobs too
      await engine.removeImage("multi:1")
      for (const d of theirs().layerDigests) expect(existsSync(join(dir, "all", "blobs", "sha256", d.slice(7)))).toBe(false)
      expect(await engine.store.leases()).toEqual([])
    } finally {
      await engine.close()
    }
  })

  it("copy --all moves every platform between registry, layout and store; without it only this host's", async () => {
    const engine = await Engine.open({ root: join(dir, "copy") })
    try {
      // registry → layout, whole: the layout's entry is the index, with every blob (skopeo reads it back whole)
      const r = await engine.copy(`docker://${ref}`, `oci:${join(dir, "copied")}:multi`, { allPlatforms: true })
      expect(r.digest).toBe(built.indexDigest)
      const idx = JSON.parse(readFileSync(join(dir, "copied", "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
      expect(idx.manifests.map((m) => m.digest)).toEqual([built.indexDigest])
      for (const d of theirs().layerDigests) expect(existsSync(join(dir, "copied", "blobs", "sha256", d.slice(7)))).toBe(true)
      skopeo("copy", "--all", `oci:${join(dir, "copied")}:multi`, `oci:${join(dir, "copied2")}:multi`)
      // without --all, skopeo's default: this host's image only
      const one = await engine.copy(`docker://${ref}`, `oci:${join(dir, "copied-one")}:multi`)
      expect(one.digest).toBe(mine().manifestDigest)
      expect(existsSync(join(dir, "copied-one", "blobs", "sha256", theirs().layerDigests[0]!.slice(7)))).toBe(false)
      // layout → store, whole (import --all-platforms): named by the index, this host's layers extracted
      const imported = await engine.importImage(`oci:${join(dir, "copied")}:multi`, "imp:1", { allPlatforms: true })
      expect(imported.digest).toBe(built.indexDigest)
      expect((await engine.inspectImage("imp:1")).layers.every((l) => l.snapshot)).toBe(true)
      // store → registry: the whole index with --all, this host's manifest without
      expect((await engine.copy("local:imp:1", `docker://${registry.host}/test/copied:all`, { allPlatforms: true })).digest).toBe(built.indexDigest)
      expect((await engine.copy("local:imp:1", `docker://${registry.host}/test/copied:one`)).digest).toBe(mine().manifestDigest)
      // docker-archive holds one platform: this host's, with or without --all
      await engine.exportImage("imp:1", `docker-archive:${join(dir, "imp.tar")}`)
      const inspect = JSON.parse(skopeo("inspect", `docker-archive:${join(dir, "imp.tar")}`)) as { Architecture: string }
      expect(inspect.Architecture).toBe(host)
    } finally {
      await engine.close()
    }
  })

  it("without it names this host's manifest only; with --platform it refuses; a single-platform image is named as usual", async () => {
    const engine = await Engine.open({ root: join(dir, "one") })
    try {
      const img = await engine.pull(ref, "multi:1")
      expect(img.digest).toBe(mine().manifestDigest)
      expect(img.platforms).toBeUndefined()
      for (const d of theirs().layerDigests) expect(existsSync(join(dir, "one", "blobs", "sha256", d.slice(7)))).toBe(false)
      await expect(engine.pull(ref, "x:1", { allPlatforms: true, platform: `linux/${other}` })).rejects.toThrow(/takes no --platform/)
      // a single-platform image: nothing more to keep, its manifest is named
      skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${registry.host}/test/multi@${mine().manifestDigest}`, `docker://${registry.host}/test/single:1`)
      const single = await engine.pull(`${registry.host}/test/single:1`, "single:1", { allPlatforms: true })
      expect(single.digest).toBe(mine().manifestDigest)
    } finally {
      await engine.close()
    }
  })
})
