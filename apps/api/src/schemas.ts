// Effect Schemas of the JSON API: request bodies are decoded with them, and /openapi.json is
// generated from them, so the document and the checks cannot drift apart.
import * as Schema from "effect/Schema"

const Int = Schema.Int
const Str = Schema.String
const opt = Schema.optionalKey

// ---- requests ----------------------------------------------------------------------------
export const TagRequest = Schema.Struct({ name: Str.check(Schema.isMinLength(1)) })
export const CreateContainerRequest = Schema.Struct({ image: Str.check(Schema.isMinLength(1)), name: opt(Str) })
export const CommitRequest = Schema.Struct({ name: opt(Str), message: opt(Str), author: opt(Str) })
export const PruneRequest = Schema.Struct({ dryRun: opt(Schema.Boolean) })
export const FsckRequest = Schema.Struct({ repair: opt(Schema.Boolean) })

// ---- responses (documented shapes of the engine's results) --------------------------------
export const ImageSummary = Schema.Struct({
  digest: Str,
  names: Schema.Array(Str),
  configDigest: Str,
  created: opt(Str),
  size: Int,
  layers: Int,
  platform: opt(Str),
  platforms: opt(Schema.Array(Str))
})
export const ImageInspect = Schema.Struct({
  digest: Str,
  manifestDigest: Str,
  names: Schema.Array(Str),
  manifest: Schema.Unknown,
  config: Schema.Unknown,
  layers: Schema.Array(
    Schema.Struct({ digest: Str, diffId: Str, size: Int, mediaType: Str, chainId: Str, snapshot: Schema.Boolean })
  )
})
export const HistoryRow = Schema.Struct({
  created: opt(Str),
  createdBy: opt(Str),
  comment: opt(Str),
  emptyLayer: Schema.Boolean,
  size: Int,
  layer: opt(Str)
})
export const RemoveImageResult = Schema.Struct({ untagged: Schema.Array(Str), deleted: Schema.Array(Str) })
export const ContainerSummary = Schema.Struct({
  id: Str,
  name: opt(Str),
  image: opt(Str),
  imageDigest: Str,
  created: Str,
  mounted: Schema.Boolean,
  mountpoint: opt(Str)
})
export const Mountpoint = Schema.Struct({ mountpoint: Str })
export const Change = Schema.Struct({ kind: Schema.Literals(["A", "C", "D"]), path: Str })
export const SnapshotUsage = Schema.Struct({ chainId: Str, size: Int, users: Int })
export const DiskUsage = Schema.Struct({
  summary: Schema.Array(
    Schema.Struct({ type: Schema.Literals(["Images", "Snapshots", "Containers", "Blobs"]), total: Int, active: Int, size: Int, reclaimable: Int })
  ),
  images: Schema.Array(Schema.Struct({ name: opt(Str), digest: Str, size: Int, shared: Int, unique: Int, containers: Int })),
  snapshots: Schema.Array(SnapshotUsage),
  containers: Schema.Array(Schema.Struct({ id: Str, image: opt(Str), size: Int, mounted: Schema.Boolean }))
})
export const PruneResult = Schema.Struct({ removed: Schema.Array(Str), bytes: Int })
export const FsckReport = Schema.Struct({ ok: Schema.Boolean })
export const Health = Schema.Struct({ ok: Schema.Boolean })
export const Version = Schema.Struct({ name: Str, version: Str, api: Str, node: Str, readOnly: Schema.Boolean, uptimeSeconds: Schema.Finite, uploads: Int })
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({ code: Str, message: Str, detail: opt(Schema.Unknown) })
})
