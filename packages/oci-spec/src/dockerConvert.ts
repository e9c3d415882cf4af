// Lossless conversion between Docker manifests / manifest lists and the OCI forms (types only:
// no schema is loaded for it).
import type { Descriptor } from "./descriptor.js"
import type { DockerManifest, DockerManifestList } from "./docker.js"
import type { ImageIndex } from "./imageIndex.js"
import type { ImageManifest } from "./imageManifest.js"
import { DockerMediaType, dockerToOciMediaType, ociToDockerMediaType, OciMediaType } from "./mediaTypes.js"

const mapType = (table: Readonly<Record<string, string>>, d: Descriptor): Descriptor =>
  Object.hasOwn(table, d.mediaType) ? { ...d, mediaType: table[d.mediaType]! } : d

/**
 * Docker manifest -> OCI manifest. Media types with an OCI counterpart are mapped, every other
 * field (known or not) is kept, so {@link ociToDockerManifest} gives the original back.
 */
export const dockerToOciManifest = (m: DockerManifest): ImageManifest => ({
  ...m,
  mediaType: OciMediaType.ImageManifest,
  config: mapType(dockerToOciMediaType, m.config),
  layers: m.layers.map((l) => mapType(dockerToOciMediaType, l))
})

/** OCI manifest -> Docker manifest; types without a Docker counterpart (e.g. tar+zstd) are kept as is. */
export const ociToDockerManifest = (m: ImageManifest): DockerManifest => ({
  ...m,
  mediaType: DockerMediaType.Manifest,
  config: mapType(ociToDockerMediaType, m.config),
  layers: m.layers.map((l) => mapType(ociToDockerMediaType, l))
})

export const dockerToOciIndex = (l: DockerManifestList): ImageIndex => ({
  ...l,
  mediaType: OciMediaType.ImageIndex,
  manifests: l.manifests.map((d) => mapType(dockerToOciMediaType, d))
})

export const ociToDockerIndex = (i: ImageIndex): DockerManifestList => ({
  ...i,
  mediaType: DockerMediaType.ManifestList,
  manifests: i.manifests.map((d) => mapType(ociToDockerMediaType, d))
})
