// Non-distributable (foreign) layers: a manifest may name one the store lacks when the descriptor
// has `urls`; every other descriptor, urls or not, must be present (#14 item 8).
import { randomBytes } from "node:crypto"
import type { Descriptor } from "@cairn/oci-spec"
import { describe, expect, it } from "vitest"
import { Store } from "../src/index.js"
import { sha } from "./imageFixture.js"
import { tempDir } from "./tempLayout.js"

const urls = ["https://example.invalid/layer"]

async function putManifest(store: Store, config: Descriptor, layers: Descriptor[]): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers }))
  const r = await store.put(bytes)
  return { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: r.digest, size: r.size }
}

describe("foreign layers", () => {
  it("fsck, gc and copy accept an absent non-distributable layer with urls, and nothing else", async () => {
    const store = await Store.open(tempDir())
    const c = await store.put(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'))
    const config = { mediaType: "application/vnd.oci.image.config.v1+json", digest: c.digest, size: c.size }
    const present = await store.put(randomBytes(500))
    const absent = (mediaType: string, seed: string): Descriptor => ({ mediaType, digest: sha(seed), size: 1234, urls })
    const foreign = [
      absent("application/vnd.oci.image.layer.nondistributable.v1.tar", "a"),
      absent("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "b"),
      absent("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "c"),
      absent("application/vnd.docker.image.rootfs.foreign.diff.tar", "d"),
      absent("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "e")
    ]
    const m = await putManifest(store, config, [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: present.digest, size: present.size }, ...foreign])
    await store.tag("foreign:1", m)
    const report = await store.fsck({ quarantine: true })
    expect(report.missing).toEqual([])
    expect(report.corrupt).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.foreign.map((f) => f.digest)).toEqual(foreign.map((f) => f.digest))
    expect(report.foreign[0]?.urls).toEqual(urls)
    expect((await store.gc()).removed).toEqual([])
    // a copy takes what is stored and keeps the foreign layers as references
    const dst = await Store.open(tempDir())
    const copied = await store.copyTo(dst, [{ descriptor: m, tag: "foreign:1" }])
    expect([...copied.copied].sort()).toEqual([m.digest, c.digest, present.digest].sort())
    expect((await dst.fsck()).ok).toBe(true)
  })

  it("fsck reports a missing config or plain layer even when its descriptor has urls", async () => {
    const store = await Store.open(tempDir())
    const layer = await store.put(randomBytes(100))
    const m = await putManifest(store, { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha("no config"), size: 10, urls }, [
      { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layer.digest, size: layer.size },
      { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha("no layer"), size: 10, urls },
      // a non-distributable layer without urls has nowhere to come from: missing too
      { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar", digest: sha("nowhere"), size: 10 }
    ])
    await store.tag("broken:1", m)
    const report = await store.fsck()
    expect(report.ok).toBe(false)
    expect(report.missing.map((x) => x.digest).sort()).toEqual([sha("no config"), sha("no layer"), sha("nowhere")].sort())
    expect(report.foreign).toEqual([])
    await expect(store.copyTo(await Store.open(tempDir()), [{ descriptor: m, tag: "broken:1" }])).rejects.toMatchObject({ _tag: "BlobNotFoundError" })
  })
})
