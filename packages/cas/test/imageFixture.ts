import { createHash, randomBytes } from "node:crypto"
import type { Digest } from "@cairn/digest"
import type { Descriptor } from "@cairn/oci-spec"
import type { Store } from "../src/index.js"

export const sha = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}` as Digest

/** Store a tiny image (random "layers" that are not real tars: the store does not care) and return its manifest descriptor. */
export async function putImage(store: Store, layers = 2, layerSize = 1000): Promise<{ manifest: Descriptor; blobs: Digest[] }> {
  const layerDescs: Descriptor[] = []
  for (let i = 0; i < layers; i++) {
    const data = randomBytes(layerSize)
    const r = await store.put(data)
    layerDescs.push({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: r.digest, size: r.size })
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layerDescs.map((l) => l.digest) }
    })
  )
  const c = await store.put(config)
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: c.digest, size: c.size },
      layers: layerDescs
    })
  )
  const m = await store.put(manifest)
  return {
    manifest: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: m.digest, size: m.size },
    blobs: [m.digest, c.digest, ...layerDescs.map((l) => l.digest)]
  }
}

/** Store an index over the given manifests. */
export async function putIndex(store: Store, manifests: readonly Descriptor[]): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }))
  const r = await store.put(bytes)
  return { mediaType: "application/vnd.oci.image.index.v1+json", digest: r.digest, size: r.size }
}
