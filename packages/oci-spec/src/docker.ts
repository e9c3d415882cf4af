// Docker image manifest v2 schema 2 and manifest list (distribution "manifest-v2-2"),
// and lossless conversion to and from the OCI forms.
import * as Schema from "effect/Schema"
import { Descriptor, openStruct } from "./descriptor.js"
import type { ImageIndex } from "./imageIndex.js"
import type { ImageManifest } from "./imageManifest.js"
import { DockerMediaType, dockerToOciMediaType, ociToDockerMediaType, OciMediaType } from "./mediaTypes.js"

export const DockerManifest = openStruct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.Literal(DockerMediaType.Manifest),
  config: Descriptor,
  layers: Schema.Array(Descriptor)
})
export type DockerManifest = typeof DockerManifest.Type

export const DockerManifestList = openStruct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.Literal(DockerMediaType.ManifestList),
  manifests: Schema.Array(Descriptor)
})
export type DockerManifestList = typeof DockerManifestList.Type

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
