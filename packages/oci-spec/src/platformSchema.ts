// The Platform schema of image-index.md "platform" (unknown fields kept).
import * as Schema from "effect/Schema"

export const Platform = Schema.StructWithRest(
  Schema.Struct({
    architecture: Schema.String,
    os: Schema.String,
    "os.version": Schema.optionalKey(Schema.String),
    "os.features": Schema.optionalKey(Schema.Array(Schema.String)),
    variant: Schema.optionalKey(Schema.String),
    features: Schema.optionalKey(Schema.Array(Schema.String))
  }),
  [Schema.Record(Schema.String, Schema.Unknown)]
)
export type Platform = typeof Platform.Type
