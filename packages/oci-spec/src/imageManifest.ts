// Image manifest (image-spec manifest.md).
import * as Schema from "effect/Schema"
import { Annotations, Descriptor, MediaTypeString, openStruct } from "./descriptor.js"
import { OciMediaType } from "./mediaTypes.js"

export const ImageManifest = openStruct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optionalKey(Schema.Literal(OciMediaType.ImageManifest)),
  artifactType: Schema.optionalKey(MediaTypeString),
  config: Descriptor,
  layers: Schema.Array(Descriptor),
  subject: Schema.optionalKey(Descriptor),
  annotations: Schema.optionalKey(Annotations)
})
export type ImageManifest = typeof ImageManifest.Type
