// Interop with skopeo on the same docker-registry: what cairn pushes skopeo pulls with identical
// digests, and the reverse.
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pullImage, pushImage, RegistryClient, staticCredentials } from "../src/index.js"
import { DirSink } from "./support/dirSink.js"
import { makeImage, randomFile, sha256 } from "./support/image.js"
import { haveRegistry, haveSkopeo, type RunningRegistry, startRegistry } from "./support/registryServer.js"

const run = promisify(execFile)
if (!haveSkopeo) console.warn("skipping skopeo interop tests: skopeo is missing (apt-get install skopeo)")

const tmp: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "cairn-skopeo-test-"))
  tmp.push(d)
  return d
}

const layoutRoot = (dir: string) => {
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: Array<{ digest: string; size: number }> }
  return index.manifests[0]!
}
const layoutBlob = (dir: string, digest: string) => readFileSync(join(dir, "blobs", "sha256", digest.slice("sha256:".length)))

describe.skipIf(!haveRegistry || !haveSkopeo)("skopeo interop", () => {
  let reg: RunningRegistry
  let client: RegistryClient
  beforeAll(async () => {
    reg = await startRegistry()
    client = new RegistryClient({ credentials: staticCredentials({}) })
  })
  afterAll(async () => {
    client?.close()
    await reg?.stop()
    for (const d of tmp) rmSync(d, { recursive: true, force: true })
  })

  it("skopeo copies what cairn pushed, with the same manifest and blob digests", async () => {
    const img = makeImage([{ "etc/os-release": "ID=cairn\n", "bin/x": randomFile(300_000) }, { "etc/motd": "hi\n" }])
    await pushImage(client, img.source, img.manifest.digest, `${reg.host}/interop/cairn:1`)
    const out = tempDir()
    await run("skopeo", ["copy", "--src-tls-verify=false", `docker://${reg.host}/interop/cairn:1`, `oci:${out}:copied`])
    const root = layoutRoot(out)
    expect(root.digest).toBe(img.manifest.digest)
    expect(layoutBlob(out, root.digest).equals(img.manifestBytes)).toBe(true)
    for (const d of [img.config, ...img.layers]) expect(sha256(layoutBlob(out, d.digest))).toBe(d.digest)
    const inspect = JSON.parse((await run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/interop/cairn:1`])).stdout) as { Digest: string; Layers: string[] }
    expect(inspect.Digest).toBe(img.manifest.digest)
    expect(inspect.Layers).toEqual(img.layers.map((l) => l.digest))
  })

  it("cairn pulls what skopeo pushed, with the same digests", async () => {
    const img = makeImage([{ "usr/lib/lib.so": randomFile(200_000) }])
    const layout = tempDir()
    img.source.writeLayout(layout, img.manifest, "src")
    await run("skopeo", ["copy", "--dest-tls-verify=false", `oci:${layout}:src`, `docker://${reg.host}/interop/skopeo:2`])
    const sink = new DirSink(tempDir())
    const r = await pullImage(client, `${reg.host}/interop/skopeo:2`, sink)
    // skopeo may rewrite the manifest; whatever it pushed, cairn's digest is the registry's
    const head = await client.headManifest(`${reg.host}/interop/skopeo:2`)
    expect(r.digest).toBe(head?.digest)
    expect(sha256(sink.read(r.digest))).toBe(r.digest)
    for (const l of r.resolved.image.layers) expect(sha256(sink.read(l.digest))).toBe(l.digest)
    expect(r.resolved.image.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.digest))
    expect(r.digest).toBe(img.manifest.digest)
  })

  it("pulls a Docker v2 schema 2 manifest that skopeo converted", async () => {
    const img = makeImage([{ docker: "v2s2" }])
    const layout = tempDir()
    img.source.writeLayout(layout, img.manifest, "src")
    await run("skopeo", ["copy", "--format=v2s2", "--dest-tls-verify=false", `oci:${layout}:src`, `docker://${reg.host}/interop/docker:1`])
    const sink = new DirSink(tempDir())
    const r = await pullImage(client, `${reg.host}/interop/docker:1`, sink)
    expect(r.resolved.manifest.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json")
    // the OCI view maps media types; the stored bytes stay Docker's
    expect(r.resolved.image.layers[0]!.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip")
    expect(JSON.parse(sink.read(r.digest).toString()).mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json")
    const inspect = JSON.parse((await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/interop/docker:1`])).stdout)
    expect(inspect.layers[0].digest).toBe(img.layers[0]!.digest)
  })
})
