import { createHash } from "node:crypto"

/** Deterministic content for blob k: a header naming k, then a fill byte. */
export function blobData(k, size) {
  const b = Buffer.alloc(size, k % 251)
  b.write(`blob ${k}\n`, 0)
  return b
}
blobData.digest = (b) => `sha256:${createHash("sha256").update(b).digest("hex")}`

/** A manifest whose only layer is the given blob (its config is the empty JSON descriptor). */
export function manifestFor(digest, size) {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest, size }]
    })
  )
  return { bytes, digest: blobData.digest(bytes) }
}
