// Image index (image-spec image-index.md).
import * as Schema from "effect/Schema"
import { Annotations, Descriptor, MediaTypeString, openStruct } from "./descriptor.js"
import { OciMediaType } from "./mediaTypes.js"

export const ImageIndex = openStruct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optionalKey(Schema.Literal(OciMediaType.ImageIndex)),
  artifactType: Schema.optionalKey(MediaTypeString),
  manifests: Schema.Array(Descriptor),
  subject: Schema.optionalKey(Descriptor),
  annotations: Schema.optionalKey(Annotations)
})
export type ImageIndex = typeof ImageIndex.Type
