// Effect Schemas of the JSON API's bodies. definition.ts names them per endpoint; request bodies
// are decoded with them, and /openapi.json and the typed client are derived from them.
import type * as Engine from "@cairn/engine"
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
// The routes return the engine's results as they are; the checks at the end of this file make the
// compiler hold each schema's keys equal to the engine type's, so the document cannot drift.
export const ImageSummary = Schema.Struct({
  name: opt(Str),
  names: Schema.Array(Str),
  digest: Str,
  configDigest: Str,
  created: opt(Str),
  size: Int,
  layers: Int,
  platform: Str,
  platforms: opt(Schema.Array(Str))
})
const LayerInfo = Schema.Struct({ digest: Str, diffId: Str, size: Int, mediaType: Str, chainId: Str, snapshot: Schema.Boolean })
export const ImageInspect = Schema.Struct({
  digest: Str,
  manifestDigest: Str,
  names: Schema.Array(Str),
  manifest: Schema.Unknown,
  config: Schema.Unknown,
  configDigest: Str,
  layers: Schema.Array(LayerInfo)
})
export const HistoryRow = Schema.Struct({
  created: opt(Str),
  createdBy: opt(Str),
  comment: opt(Str),
  author: opt(Str),
  emptyLayer: Schema.Boolean,
  size: Int,
  layer: opt(Str)
})
export const RemoveImageResult = Schema.Struct({ untagged: Schema.Array(Str), deleted: Schema.Array(Str) })
export const ContainerSummary = Schema.Struct({
  id: Str,
  name: Str,
  image: Str,
  imageDigest: Str,
  created: Str,
  mounted: Schema.Boolean,
  mountpoint: opt(Str),
  driver: opt(Schema.Literals(["kernel", "rootless", "fuse", "copy"]))
})
export const Mountpoint = Schema.Struct({ mountpoint: Str })
export const Change = Schema.Struct({ kind: Schema.Literals(["A", "C", "D"]), path: Str })
export const SnapshotUsage = Schema.Struct({ chainId: Str, diffId: Str, size: Int, images: Int, containers: Int })
export const DiskUsage = Schema.Struct({
  images: Schema.Array(Schema.Struct({ name: opt(Str), names: Schema.Array(Str), digest: Str, size: Int, shared: Int, unique: Int, containers: Int })),
  snapshots: Schema.Array(SnapshotUsage),
  containers: Schema.Array(Schema.Struct({ id: Str, name: Str, image: Str, size: Int, mounted: Schema.Boolean })),
  totals: Schema.Struct({ images: Int, snapshots: Int, containers: Int, ingests: Int }),
  ingests: Schema.Struct({ count: Int, active: Int, bytes: Int, stale: Int }),
  reclaimable: Schema.Struct({ blobs: Int, snapshots: Int, ingests: Int, total: Int })
})
export const PruneResult = Schema.Struct({ removed: Schema.Array(Str), bytes: Int, ingestBytes: Int })
export const FsckReport = Schema.Struct({
  ok: Schema.Boolean,
  /** the content store's own report (blobs, tags, graph) */
  store: Schema.Unknown,
  problems: Schema.Array(Str),
  repaired: Schema.Array(Str)
})
export const Health = Schema.Struct({ ok: Schema.Boolean })
export const Version = Schema.Struct({ name: Str, version: Str, api: Str, node: Str, readOnly: Schema.Boolean, uptimeSeconds: Schema.Finite, uploads: Int })
export const BuildResponse = Schema.Struct({
  image: ImageSummary,
  steps: Int,
  cached: Int,
  layersCreated: Int,
  /** the STEP lines and RUN output, as `cairn build` prints them */
  log: Str
})
/** the body of every JSON API error: `{ "error": { "code", "message", "detail"? } }` */
export const ErrorInfo = Schema.Struct({ code: Str, message: Str, detail: opt(Schema.Unknown) })

// ---- the schemas against the engine's types (compile time only) ---------------------------
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
/** Compiles only when the schema's keys are the engine type's keys: a field added on either side without the other fails the build. */
const sameKeys = <S, E>(_: Same<keyof S, keyof E>): void => {}
type Row<T> = T extends ReadonlyArray<infer R> ? R : never
sameKeys<typeof ImageSummary.Type, Engine.ImageSummary>(true)
sameKeys<typeof ImageInspect.Type, Engine.ImageInspect>(true)
sameKeys<Row<(typeof ImageInspect.Type)["layers"]>, Engine.LayerInfo>(true)
sameKeys<typeof HistoryRow.Type, Engine.HistoryRow>(true)
sameKeys<typeof ContainerSummary.Type, Engine.ContainerSummary>(true)
sameKeys<typeof DiskUsage.Type, Engine.DiskUsage>(true)
sameKeys<Row<(typeof DiskUsage.Type)["images"]>, Row<Engine.DiskUsage["images"]>>(true)
sameKeys<Row<(typeof DiskUsage.Type)["snapshots"]>, Row<Engine.DiskUsage["snapshots"]>>(true)
sameKeys<Row<(typeof DiskUsage.Type)["containers"]>, Row<Engine.DiskUsage["containers"]>>(true)
sameKeys<(typeof DiskUsage.Type)["totals"], Engine.DiskUsage["totals"]>(true)
sameKeys<(typeof DiskUsage.Type)["ingests"], Engine.DiskUsage["ingests"]>(true)
sameKeys<(typeof DiskUsage.Type)["reclaimable"], Engine.DiskUsage["reclaimable"]>(true)
sameKeys<typeof PruneResult.Type, Engine.PruneResult>(true)
sameKeys<typeof FsckReport.Type, Engine.FsckResult>(true)
