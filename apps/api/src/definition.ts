// The JSON API, defined once with effect's HttpApi. Everything else is derived from it: the
// server's routes (server.ts registers each endpoint's handler through HttpApiBuilder, and reads
// the endpoint for how to take its body and answer), /openapi.json (OpenApi.fromApi) and the
// typed client (client.ts). The /v2 distribution API and GET /token are not part of it: they
// follow the distribution spec and docker's token flow, not this document.
import * as Schema from "effect/Schema"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as S from "./schemas.js"

export const VERSION = "0.1.0"

/**
 * What every failed JSON API call answers, with its HTTP status: `error.code` is the stable
 * machine-readable name (NOT_FOUND, CONFLICT, INVALID_REQUEST, ...), `error.message` says what
 * went wrong, `error.detail` carries the specifics (the digest, the limit, the build log).
 * The typed client fails with this.
 */
export class ApiFailure extends Schema.Error<ApiFailure>("ApiFailure")({ error: S.ErrorInfo }) {
  /** the machine-readable code, e.g. NOT_FOUND */
  get code(): string {
    return this.error.code
  }
}

/** every status a JSON endpoint can fail with (errorStatus.ts maps the engine's errors onto them) */
export const FAILURE_STATUSES = [400, 401, 403, 404, 408, 409, 413, 415, 422, 500, 501, 503] as const
const error = FAILURE_STATUSES.map((s) => ApiFailure.pipe(HttpApiSchema.status(s)))

const describe = (description: string) => Schema.String.annotate({ description })
/** an optional query parameter; the server reads `1` or `true` as yes for flags */
const q = (description: string) => Schema.optionalKey(describe(description))
/** a query parameter that may be given more than once */
const qs = (description: string) => Schema.optionalKey(Schema.Array(describe(description)))
const created = <T extends Schema.Top>(schema: T) => schema.pipe(HttpApiSchema.status(201))
const tar = HttpApiSchema.StreamUint8Array({ contentType: ["application/x-tar", "application/octet-stream"] })
/** an image archive: a tar, plain or gzip-compressed (told by its first bytes, as docker load tells it) */
const archive = HttpApiSchema.StreamUint8Array({ contentType: ["application/x-tar", "application/gzip", "application/x-gzip", "application/octet-stream"] })

const image = { image: describe("name[:tag], digest or unique hex prefix; URL-encode '/' and ':'") }
const container = { id: describe("container id, unique id prefix or name") }

const system = HttpApiGroup.make("system").add(
  HttpApiEndpoint.get("health", "/health", { success: S.Health, error }).annotate(OpenApi.Summary, "Liveness: the service answers (no token needed; says nothing else)"),
  HttpApiEndpoint.get("version", "/version", { success: S.Version, error }).annotate(OpenApi.Summary, "Service and API version, uptime and open upload sessions")
)

const images = HttpApiGroup.make("images").add(
  HttpApiEndpoint.get("list", "/images", { success: Schema.Array(S.ImageSummary), error }).annotate(OpenApi.Summary, "List images"),
  HttpApiEndpoint.post("import", "/images/import", {
    query: { format: q("oci-archive (default) or docker-archive"), name: q("name[:tag] to give the image") },
    payload: archive,
    success: created(S.ImageSummary),
    error
  }).annotate(OpenApi.Summary, "Import an image from an oci-archive or docker-archive tar (plain or gzip-compressed) sent as the request body"),
  HttpApiEndpoint.get("inspect", "/images/:image", { params: image, success: S.ImageInspect, error }).annotate(OpenApi.Summary, "Inspect an image"),
  HttpApiEndpoint.get("history", "/images/:image/history", { params: image, success: Schema.Array(S.HistoryRow), error }).annotate(OpenApi.Summary, "Image history, newest first"),
  HttpApiEndpoint.post("tag", "/images/:image/tag", { params: image, payload: S.TagRequest, success: HttpApiSchema.NoContent, error }).annotate(OpenApi.Summary, "Give an image another name"),
  HttpApiEndpoint.get("export", "/images/:image/export", {
    params: image,
    query: { format: q("oci-archive (default) or docker-archive") },
    success: HttpApiSchema.StreamUint8Array({ contentType: "application/x-tar" }),
    error
  }).annotate(OpenApi.Summary, "Download an image as an oci-archive or docker-archive tar"),
  HttpApiEndpoint.delete("remove", "/images/:image", {
    params: image,
    query: { force: q("1 to remove even when containers use it") },
    success: S.RemoveImageResult,
    error
  }).annotate(OpenApi.Summary, "Remove an image (untag; delete when no name is left)")
)

const containers = HttpApiGroup.make("containers").add(
  HttpApiEndpoint.get("list", "/containers", { success: Schema.Array(S.ContainerSummary), error }).annotate(OpenApi.Summary, "List containers"),
  HttpApiEndpoint.post("create", "/containers", { payload: S.CreateContainerRequest, success: created(S.ContainerSummary), error }).annotate(OpenApi.Summary, "Create a container (a writable layer over an image)"),
  HttpApiEndpoint.post("mount", "/containers/:id/mount", { params: container, success: S.Mountpoint, error }).annotate(OpenApi.Summary, "Mount a container's root filesystem"),
  HttpApiEndpoint.post("unmount", "/containers/:id/unmount", { params: container, success: HttpApiSchema.NoContent, error }).annotate(OpenApi.Summary, "Unmount a container"),
  HttpApiEndpoint.get("diff", "/containers/:id/diff", { params: container, success: Schema.Array(S.Change), error }).annotate(OpenApi.Summary, "Changes in a container's writable layer"),
  HttpApiEndpoint.post("commit", "/containers/:id/commit", { params: container, payload: S.CommitRequest, success: created(S.ImageSummary), error }).annotate(OpenApi.Summary, "Commit a container's changes as a new image"),
  HttpApiEndpoint.delete("remove", "/containers/:id", {
    params: container,
    query: { force: q("1 to unmount first") },
    success: HttpApiSchema.NoContent,
    error
  }).annotate(OpenApi.Summary, "Remove a container")
)

const store = HttpApiGroup.make("store").add(
  HttpApiEndpoint.get("snapshots", "/snapshots", { success: Schema.Array(S.SnapshotUsage), error }).annotate(OpenApi.Summary, "Extracted layer snapshots with their size and users"),
  HttpApiEndpoint.get("df", "/df", { success: S.DiskUsage, error }).annotate(OpenApi.Summary, "Disk usage"),
  HttpApiEndpoint.post("gc", "/gc", { payload: S.PruneRequest, success: S.PruneResult, error }).annotate(OpenApi.Summary, "Remove unreferenced blobs, snapshots and debris"),
  HttpApiEndpoint.get("fsck", "/fsck", { success: S.FsckReport, error }).annotate(OpenApi.Summary, "Check the store (read only)"),
  HttpApiEndpoint.post("repair", "/fsck", { payload: S.FsckRequest, success: S.FsckReport, error }).annotate(OpenApi.Summary, "Check the store, repairing what can be repaired when repair is true")
)

/** one server-sent event: `progress` (bytes per layer or blob) or `lifecycle` (an image or container changed) */
export const ServerEvent = Schema.Struct({
  event: Schema.Literals(["progress", "lifecycle"]),
  id: Schema.optional(Schema.String),
  data: Schema.fromJsonString(Schema.Unknown)
})

const events = HttpApiGroup.make("events").add(
  HttpApiEndpoint.get("events", "/events", { success: HttpApiSchema.StreamSse({ events: ServerEvent }), error }).annotate(OpenApi.Summary, "Server-sent events: `progress` (bytes per layer/blob) and `lifecycle` (image/container changes)")
)

const build = HttpApiGroup.make("build").add(
  HttpApiEndpoint.post("build", "/build", {
    query: {
      t: qs("name[:tag] for the image (repeatable)"),
      file: q("the Containerfile's path in the context (default Containerfile, else Dockerfile)"),
      buildarg: qs("NAME=VALUE for an ARG (repeatable)"),
      target: q("the stage to build"),
      nocache: q("1 to ignore the build cache"),
      timestamp: q("seconds since the epoch for created times and file mtimes"),
      network: q("RUN's network: none (default) or host")
    },
    payload: tar,
    success: created(S.BuildResponse),
    error
  }).annotate(OpenApi.Summary, "Build an image from a Containerfile; the body is a tar of the build context")
)

export class CairnApi extends HttpApi.make("cairn-api")
  .add(system)
  .add(images)
  .add(containers)
  .add(store)
  .add(events)
  .add(build)
  .annotateMerge(
    OpenApi.annotations({
      title: "cairn-api",
      version: VERSION,
      description:
        "cairn's engine over HTTP. The OCI distribution API (distribution-spec v1.1) is served under /v2/ from the same store and is not repeated here."
    })
  ) {}

/** the groups of the API, by name */
export type GroupName = HttpApiGroup.Identifier<CairnApiGroups>
type CairnApiGroups = typeof CairnApi extends HttpApi.HttpApi<string, infer G> ? G : never
/** the endpoints of one group, by name */
export type EndpointName<G extends GroupName> = HttpApiGroup.EndpointsWithIdentifier<CairnApiGroups, G>["identifier"]
/** what one endpoint answers with on success, as its schema types it */
export type EndpointSuccess<G extends GroupName, E extends string> = HttpApiEndpoint.Success<
  HttpApiEndpoint.WithIdentifier<HttpApiGroup.EndpointsWithIdentifier<CairnApiGroups, G>, E>
>["Type"]
