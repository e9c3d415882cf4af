// Documents written by umoci and skopeo on this machine, decoded and checked against their file names.
import { execFileSync } from "node:child_process"
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { digestReadable, parseDigest } from "@cairn/digest"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  decodeConfig,
  decodeDockerManifest,
  decodeIndex,
  decodeManifest,
  decodeOciLayout,
  type Descriptor,
  dockerToOciManifest,
  isLayerMediaType,
  OciMediaType
} from "../src/index.js"

const have = (tool: string) => {
  try {
    execFileSync(tool, ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}
const haveTools = have("umoci") && have("skopeo")
if (!haveTools) console.warn("skipping umoci/skopeo tests: umoci or skopeo is not installed")

const run = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, stdio: "pipe" })

let dir = ""
beforeAll(() => {
  if (!haveTools) return
  dir = mkdtempSync(join(tmpdir(), "cairn-oci-spec-"))
  mkdirSync(join(dir, "root/etc"), { recursive: true })
  writeFileSync(join(dir, "root/etc/hello"), "hello\n")
  run("tar", ["-C", "root", "-cf", "layer.tar", "etc"], dir)
  run("umoci", ["init", "--layout", "umoci"], dir)
  run("umoci", ["new", "--image", "umoci:t"], dir)
  run("umoci", ["raw", "add-layer", "--image", "umoci:t", "layer.tar"], dir)
  run("umoci", ["config", "--image", "umoci:t", "--config.cmd", "/bin/sh", "--config.label", "a=b", "--architecture", "arm64", "--author", "cairn"], dir)
  run("skopeo", ["copy", "-q", "oci:umoci:t", "oci:skopeo:t"], dir)
  run("skopeo", ["copy", "-q", "oci:umoci:t", "docker-archive:archive.tar"], dir)
  run("skopeo", ["copy", "-q", "--format", "v2s2", "oci:umoci:t", "dir:v2s2"], dir)
  mkdirSync(join(dir, "archive"))
  run("tar", ["-C", "archive", "-xf", "archive.tar"], dir)
})
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const blobPath = (layout: string, d: string) => {
  const [alg, hex] = parseDigest(d).split(":") as [string, string]
  return join(dir, layout, "blobs", alg, hex)
}
const fileDigest = async (path: string) => digestReadable(createReadStream(path))

// Decodes every document of an OCI layout and checks each blob against its descriptor and file name.
const walkLayout = async (layout: string) => {
  const marker = await decodeOciLayout(readFileSync(join(dir, layout, "oci-layout")))
  expect(marker.value.imageLayoutVersion).toBe("1.0.0")
  const index = await decodeIndex(readFileSync(join(dir, layout, "index.json")))
  expect(index.value.manifests).toHaveLength(1)
  const seen: Descriptor[] = []
  for (const md of index.value.manifests) {
    expect(md.mediaType).toBe(OciMediaType.ImageManifest)
    expect(md.annotations?.["org.opencontainers.image.ref.name"]).toBe("t")
    const m = await decodeManifest(readFileSync(blobPath(layout, md.digest)))
    expect(m.digest).toBe(md.digest)
    expect(m.size).toBe(md.size)
    const c = await decodeConfig(readFileSync(blobPath(layout, m.value.config.digest)))
    expect(c.digest).toBe(m.value.config.digest)
    expect(c.size).toBe(m.value.config.size)
    expect(c.value.architecture).toBe("arm64")
    expect(c.value.author).toBe("cairn")
    expect(c.value.config?.Cmd).toEqual(["/bin/sh"])
    expect(c.value.config?.Labels).toEqual({ a: "b" })
    expect(c.value.rootfs.diff_ids).toHaveLength(m.value.layers.length)
    // config.md: history entries without empty_layer correspond one to one to the layers
    const history = c.value.history ?? []
    expect(history.some((h) => h.empty_layer === true)).toBe(true)
    expect(history.filter((h) => h.empty_layer !== true)).toHaveLength(m.value.layers.length)
    for (const l of m.value.layers) {
      expect(isLayerMediaType(l.mediaType)).toBe(true)
      expect(await fileDigest(blobPath(layout, l.digest))).toEqual({ digest: l.digest, size: l.size })
    }
    seen.push(md, m.value.config, ...m.value.layers)
  }
  return seen
}

describe.skipIf(!haveTools)("documents written by umoci and skopeo", () => {
  it("decodes every document of an umoci layout and matches digests to file names", async () => {
    const seen = await walkLayout("umoci")
    expect(seen).toHaveLength(3)
  })

  it("decodes every document of a layout skopeo copied, with the same blobs", async () => {
    const a = await walkLayout("umoci")
    const b = await walkLayout("skopeo")
    expect(b.slice(1).map((d) => d.digest)).toEqual(a.slice(1).map((d) => d.digest))
  })

  it("decodes the config of a skopeo docker-archive and checks layer files against diff_ids", async () => {
    const manifest = JSON.parse(readFileSync(join(dir, "archive/manifest.json"), "utf8")) as Array<{
      Config: string
      Layers: string[]
    }>
    const entry = manifest[0]!
    const c = await decodeConfig(readFileSync(join(dir, "archive", entry.Config)))
    expect(c.digest).toBe(`sha256:${entry.Config.replace(/\.json$/, "")}`)
    expect(entry.Layers).toHaveLength(c.value.rootfs.diff_ids.length)
    for (const [i, layer] of entry.Layers.entries()) {
      expect((await fileDigest(join(dir, "archive", layer))).digest).toBe(c.value.rootfs.diff_ids[i])
    }
  })

  it("decodes a Docker v2 schema 2 manifest skopeo wrote and converts it to OCI", async () => {
    const m = await decodeDockerManifest(readFileSync(join(dir, "v2s2/manifest.json")))
    const hex = (d: string) => d.split(":")[1]!
    const c = await decodeConfig(readFileSync(join(dir, "v2s2", hex(m.value.config.digest))))
    expect(c.digest).toBe(m.value.config.digest)
    for (const l of m.value.layers) {
      expect(await fileDigest(join(dir, "v2s2", hex(l.digest)))).toEqual({ digest: l.digest, size: l.size })
    }
    const oci = dockerToOciManifest(m.value)
    expect(oci.layers.map((l) => l.mediaType)).toEqual([OciMediaType.LayerGzip])
    expect(existsSync(join(dir, "v2s2/version"))).toBe(true)
  })
})
