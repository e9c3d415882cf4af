// Docker image manifest v2 schema 2 and manifest list (distribution "manifest-v2-2"),
// as schemas; the lossless conversion to and from the OCI forms is in dockerConvert.ts.
import * as Schema from "effect/Schema"
import { Descriptor, openStruct } from "./descriptor.js"
import { DockerMediaType } from "./mediaTypes.js"

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
