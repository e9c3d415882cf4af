// What a stored document is, read from its own fields without a full decode: a registry serving
// blobs by digest uses it to tell a manifest or index (servable under /manifests/) from any
// other blob, and to list referrers (subject, artifactType, annotations).
import { isIndexMediaType, isManifestMediaType, OciMediaType } from "./mediaTypes.js"

export interface ManifestSniff {
  readonly mediaType: string
  readonly artifactType?: string
  readonly subject?: string
  readonly annotations?: Readonly<Record<string, string>>
}

/** A media type a registry serves under `/manifests/` (OCI or Docker manifest, index or list). */
export const isAnyManifestMediaType = (mediaType: string): boolean => isManifestMediaType(mediaType) || isIndexMediaType(mediaType)

/**
 * Media type (and referrer facts) of a document by its own fields (image-spec: `mediaType` SHOULD
 * be set; without it an index is told by `manifests`, a manifest by `config`), or undefined when the
 * bytes are not a schemaVersion 2 manifest-like JSON document.
 */
export const sniffManifest = (bytes: Uint8Array): ManifestSniff | undefined => {
  let json: Record<string, unknown>
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (json === null || typeof json !== "object" || json.schemaVersion !== 2) return undefined
  const mediaType =
    typeof json.mediaType === "string" ? json.mediaType : Array.isArray(json.manifests) ? OciMediaType.ImageIndex : "config" in json ? OciMediaType.ImageManifest : undefined
  if (mediaType === undefined || !isAnyManifestMediaType(mediaType)) return undefined
  const config = json.config as { mediaType?: unknown } | undefined
  const subject = (json.subject as { digest?: unknown } | undefined)?.digest
  const artifactType = typeof json.artifactType === "string" ? json.artifactType : typeof config?.mediaType === "string" ? config.mediaType : undefined
  const annotations = json.annotations as Record<string, string> | undefined
  return {
    mediaType,
    ...(artifactType ? { artifactType } : {}),
    ...(typeof subject === "string" ? { subject } : {}),
    ...(annotations && typeof annotations === "object" ? { annotations } : {})
  }
}
