// The OCI distribution API (distribution-spec v1.1) served from the store: /v2/ paths are parsed
// here by hand because repository names span several path segments, then handed to the file
// that holds that part of the protocol (manifests, blobs, uploads, listings).
import type { Digest } from "@cairn/digest"
import { HttpServerResponse } from "effect/http"
import { DistributionError } from "../errors.js"
import { isRepositoryName, parseBlobDigest } from "../names.js"
import type { RegistryStore } from "../registryStore.js"
import type { UploadSessions } from "../uploads.js"
import { Blobs } from "./blobs.js"
import { type DistributionOptions, PushLeases, type V2Request } from "./context.js"
import { forwardWrite } from "./forward.js"
import { catalog, referrers, tagsList } from "./listings.js"
import { Manifests } from "./manifests.js"
import { Mirror, type MirrorOptions } from "./mirror.js"
import { Uploads } from "./uploads.js"

export type Route =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "manifest"; name: string; ref: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "uploads"; name: string }
  | { kind: "upload"; name: string; id: string }
  | { kind: "tags"; name: string }
  | { kind: "referrers"; name: string; digest: string }

const API_VERSION = { "Docker-Distribution-API-Version": "registry/2.0" }

const nameInvalid = (name: string) =>
  new DistributionError({ status: 400, code: "NAME_INVALID", reason: "invalid repository name (distribution-spec name grammar)", detail: { name } })

/** Match a /v2 path; the name is validated before anything else looks at it. */
export const matchV2 = (path: string): Route | undefined => {
  if (path === "/v2" || path === "/v2/") return { kind: "base" }
  if (path === "/v2/_catalog") return { kind: "catalog" }
  if (!path.startsWith("/v2/")) return undefined
  const rest = path.slice(4)
  const up = /^(.+)\/blobs\/uploads\/?([^/]*)$/.exec(rest)
  if (up) {
    const [, name = "", id = ""] = up
    if (!isRepositoryName(name)) throw nameInvalid(name)
    return id === "" ? { kind: "uploads", name } : { kind: "upload", name, id }
  }
  const m = /^(.+)\/(manifests|blobs|tags|referrers)\/([^/]*)$/.exec(rest)
  if (!m) return undefined
  const [, name = "", section, last = ""] = m
  if (!isRepositoryName(name)) throw nameInvalid(name)
  switch (section) {
    case "manifests":
      return { kind: "manifest", name, ref: last }
    case "blobs":
      return { kind: "blob", name, digest: last }
    case "tags":
      return last === "list" ? { kind: "tags", name } : undefined
    default:
      return { kind: "referrers", name, digest: last }
  }
}

export class Distribution {
  readonly manifests: Manifests
  readonly blobs: Blobs
  readonly pushes: Uploads
  /** the pull-through cache, when this registry mirrors upstreams */
  readonly mirror: Mirror | undefined

  constructor(
    readonly store: RegistryStore,
    readonly uploads: UploadSessions,
    readonly options: DistributionOptions & { readonly mirror?: MirrorOptions }
  ) {
    this.mirror = options.mirror && options.mirror.upstreams.length > 0 ? new Mirror(store, options.mirror, options.maxManifestBytes) : undefined
    const leases = new PushLeases(store, options.uploadGraceMs ?? 3_600_000)
    this.manifests = new Manifests(store, options, leases)
    this.blobs = new Blobs(store, options, leases)
    this.pushes = new Uploads(store, uploads, options, leases, this.blobs)
  }

  async handle(r: V2Request): Promise<HttpServerResponse.HttpServerResponse> {
    const route = matchV2(r.path)
    if (!route) throw new DistributionError({ status: 404, code: "NAME_UNKNOWN", reason: `no such endpoint: ${r.method} ${r.path}` })
    const m = r.method
    const read = m === "GET" || m === "HEAD"
    if (this.mirror && !read && route.kind !== "base") {
      if (this.mirror.options.forwardPush) return forwardWrite(this.mirror.options.upstreams[0] as string, r)
      throw new DistributionError({
        status: 405,
        code: "UNSUPPORTED",
        reason: `this registry is a pull-through mirror of ${this.mirror.options.upstreams.join(", ")}: push to the upstream instead (or start the mirror with --mirror-forward-push)`
      })
    }
    switch (route.kind) {
      case "base":
        if (read) return HttpServerResponse.jsonUnsafe({}, { headers: API_VERSION })
        break
      case "catalog":
        if (m === "GET") return catalog(this.manifests, r)
        break
      case "tags":
        if (m === "GET") return tagsList(this.manifests, route.name, r)
        break
      case "manifest":
        if (read) return (await this.mirror?.manifest(route.name, route.ref, m === "HEAD")) ?? this.manifests.get(route.name, route.ref, m === "HEAD")
        if (m === "PUT") return this.manifests.put(route.name, route.ref, r)
        if (m === "DELETE") return this.manifests.delete(route.name, route.ref)
        break
      case "blob":
        if (read) return (await this.mirroredBlob(route.name, route.digest, r, m === "HEAD")) ?? this.blobs.get(route.name, route.digest, r, m === "HEAD")
        if (m === "DELETE") {
          throw new DistributionError({ status: 405, code: "UNSUPPORTED", reason: "blobs are removed by garbage collection (POST /gc), not by DELETE" })
        }
        break
      case "uploads":
        if (m === "POST") return this.pushes.start(route.name, r)
        break
      case "upload": {
        if (m === "GET") return this.pushes.status(await this.pushes.session(route.id, route.name), 204)
        if (m === "PATCH") return this.pushes.patch(await this.pushes.session(route.id, route.name), r)
        if (m === "PUT") return this.pushes.finish(await this.pushes.session(route.id, route.name), r)
        if (m === "DELETE") return this.pushes.cancel(await this.pushes.session(route.id, route.name))
        break
      }
      case "referrers":
        if (m === "GET") return referrers(this.manifests, route.digest, r)
        break
    }
    throw new DistributionError({ status: 405, code: "UNSUPPORTED", reason: `${m} is not supported on ${r.path}` })
  }

  private async mirroredBlob(name: string, digestText: string, r: V2Request, head: boolean) {
    const digest = parseBlobDigest(digestText)
    if (!this.mirror || !digest) return undefined
    if (await this.store.has(digest)) {
      this.mirror.used_(digest)
      return undefined
    }
    return this.mirror.blob(name, digest, head, r.req.headers.range !== undefined)
  }

  /** Verify `data` as `digest` and make it visible, held by a push lease (see Blobs.putVerified). */
  putVerified(name: string, digest: Digest, size: number | undefined, data: AsyncIterable<Uint8Array>): Promise<void> {
    return this.blobs.putVerified(name, digest, size, data)
  }
}
