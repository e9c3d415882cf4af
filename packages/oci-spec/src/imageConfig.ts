// Image configuration (image-spec config.md).
import * as Schema from "effect/Schema"
import { DigestString, openStruct } from "./descriptor.js"

// Docker writes `null` for empty maps/lists in configs (e.g. "Volumes": null); accept it as the spec's
// "absent" so real-world configs decode.
const opt = <S extends Schema.Top>(s: S) => Schema.optionalKey(Schema.NullOr(s))

/** config.md "config": the execution parameters a runtime should use. */
export const ContainerConfig = openStruct({
  User: opt(Schema.String),
  ExposedPorts: opt(Schema.Record(Schema.String, Schema.Unknown)),
  Env: opt(Schema.Array(Schema.String)),
  Entrypoint: opt(Schema.Array(Schema.String)),
  Cmd: opt(Schema.Array(Schema.String)),
  Volumes: opt(Schema.Record(Schema.String, Schema.Unknown)),
  WorkingDir: opt(Schema.String),
  Labels: opt(Schema.Record(Schema.String, Schema.String)),
  StopSignal: opt(Schema.String),
  ArgsEscaped: opt(Schema.Boolean)
})
export type ContainerConfig = typeof ContainerConfig.Type

export const RootFs = openStruct({
  type: Schema.Literal("layers"),
  diff_ids: Schema.Array(DigestString)
})
export type RootFs = typeof RootFs.Type

export const History = openStruct({
  created: Schema.optionalKey(Schema.String),
  created_by: Schema.optionalKey(Schema.String),
  author: Schema.optionalKey(Schema.String),
  comment: Schema.optionalKey(Schema.String),
  empty_layer: Schema.optionalKey(Schema.Boolean)
})
export type History = typeof History.Type

export const ImageConfig = openStruct({
  created: Schema.optionalKey(Schema.String),
  author: Schema.optionalKey(Schema.String),
  architecture: Schema.String,
  os: Schema.String,
  "os.version": Schema.optionalKey(Schema.String),
  "os.features": Schema.optionalKey(Schema.Array(Schema.String)),
  variant: Schema.optionalKey(Schema.String),
  config: opt(ContainerConfig),
  rootfs: RootFs,
  history: opt(Schema.Array(History))
})
export type ImageConfig = typeof ImageConfig.Type
