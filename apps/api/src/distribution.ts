// The OCI distribution API (distribution-spec v1.1) served from the store: /v2/ paths are parsed
// here by hand because repository names span several path segments.
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { stat } from "node:fs/promises"
import type { IncomingMessage } from "node:http"
import { mayBeAbsent, REF_NAME } from "@cairn/cas"
import { type Digest, digestAlgorithm, digestBytes, digestHex, DigestMismatchError, SizeMismatchError } from "@cairn/digest"
import { type AnyManifest, type Descriptor, decodeAnyManifest, isIndexMediaType, OciDecodeError, OciMediaType } from "@cairn/oci-spec"
import { HttpServerResponse } from "effect/http"
import { BodyTooLargeError, DistributionError } from "./errors.js"
import { contentLength, limitedBody, readBody } from "./body.js"
import { isRepositoryName, parseBlobDigest, parseReference, refName, splitRefName } from "./names.js"
import { parseContentRange, parseRange } from "./range.js"
import type { RegistryStore } from "./registryStore.js"
import type { UploadSession, UploadSessions } from "./uploads.js"

export interface DistributionOptions {
  readonly maxManifestBytes: number
  readonly maxBlobBytes: number
  /** how long a pushed blob is held for the manifest that will reference it (default 1 hour) */
  readonly uploadGraceMs?: number
  /** hold a blob a HEAD request found (default true; false where nothing can push, e.g. read-only) */
  readonly holdOnHead?: boolean
}

/**
 * The lease that holds a blob or untagged manifest pushed to repository `name` until a manifest of
 * that repository references it. Per repository: two pushes of the same layer to different
 * repositories must not end each other's hold.
 */
export const pushLeaseId = (name: string, d: Digest): string =>
  `api-push-${createHash("sha256").update(name).digest("hex").slice(0, 16)}-${digestAlgorithm(d)}-${digestHex(d)}`

export interface V2Request {
  readonly method: string
  /** the raw path, not decoded: `%2e%2e` stays as it came */
  readonly path: string
  readonly query: URLSearchParams
  readonly req: IncomingMessage
}

type Route =
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

interface ManifestFacts {
  readonly mediaType: string
  readonly size: number
  readonly artifactType?: string
  readonly subject?: Digest
  readonly annotations?: Readonly<Record<string, string>>
}

const MANIFEST_KINDS = new Set<string>([
  OciMediaType.ImageManifest,
  OciMediaType.ImageIndex,
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json"
])

/** Media type of a stored document by its own fields (image-spec: mediaType SHOULD be set). */
const sniffManifest = (bytes: Uint8Array): Omit<ManifestFacts, "size"> | undefined => {
  let json: Record<string, unknown>
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (json === null || typeof json !== "object" || json.schemaVersion !== 2) return undefined
  const mediaType =
    typeof json.mediaType === "string" ? json.mediaType : Array.isArray(json.manifests) ? OciMediaType.ImageIndex : "config" in json ? OciMediaType.ImageManifest : undefined
  if (mediaType === undefined || !MANIFEST_KINDS.has(mediaType)) return undefined
  const config = json.config as { mediaType?: unknown } | undefined
  const subject = (json.subject as { digest?: unknown } | undefined)?.digest
  const artifactType = typeof json.artifactType === "string" ? json.artifactType : typeof config?.mediaType === "string" ? config.mediaType : undefined
  const annotations = json.annotations as Record<string, string> | undefined
  return {
    mediaType,
    ...(artifactType ? { artifactType } : {}),
    ...(typeof subject === "string" ? { subject: subject as Digest } : {}),
    ...(annotations && typeof annotations === "object" ? { annotations } : {})
  }
}

const digestHeaders = (digest: Digest) => ({ "Docker-Content-Digest": digest, ETag: `"${digest}"` })

export class Distribution {
  // manifests are immutable by digest, so what we learnt of one stays true
  private readonly facts = new Map<string, ManifestFacts>()
  // index.json is replaced by rename on every change: same inode, size and mtime = same content
  private indexCache: { key: string; entries: readonly Descriptor[] } | undefined
  // push leases this process took, with their expiry (a restart forgets them; they then expire)
  private readonly held = new Map<string, number>()

  constructor(
    readonly store: RegistryStore,
    readonly uploads: UploadSessions,
    readonly options: DistributionOptions
  ) {}

  async handle(r: V2Request): Promise<HttpServerResponse.HttpServerResponse> {
    const route = matchV2(r.path)
    if (!route) throw new DistributionError({ status: 404, code: "NAME_UNKNOWN", reason: `no such endpoint: ${r.method} ${r.path}` })
    const m = r.method
    const read = m === "GET" || m === "HEAD"
    switch (route.kind) {
      case "base":
        if (read) return HttpServerResponse.jsonUnsafe({}, { headers: API_VERSION })
        break
      case "catalog":
        if (m === "GET") return this.catalog(r)
        break
      case "tags":
        if (m === "GET") return this.tagsList(route.name, r)
        break
      case "manifest":
        if (read) return this.getManifest(route.name, route.ref, m === "HEAD")
        if (m === "PUT") return this.putManifest(route.name, route.ref, r)
        if (m === "DELETE") return this.deleteManifest(route.name, route.ref)
        break
      case "blob":
        if (read) return this.getBlob(route.name, route.digest, r, m === "HEAD")
        if (m === "DELETE") {
          throw new DistributionError({ status: 405, code: "UNSUPPORTED", reason: "blobs are removed by garbage collection (POST /gc), not by DELETE" })
        }
        break
      case "uploads":
        if (m === "POST") return this.startUpload(route.name, r)
        break
      case "upload": {
        if (m === "GET") return this.uploadStatus(this.uploads.get(route.id, route.name), 204)
        if (m === "PATCH") return this.patchUpload(this.uploads.get(route.id, route.name), r)
        if (m === "PUT") return this.finishUpload(this.uploads.get(route.id, route.name), r)
        if (m === "DELETE") {
          await this.uploads.drop(this.uploads.get(route.id, route.name))
          return HttpServerResponse.empty({ status: 204 })
        }
        break
      }
      case "referrers":
        if (m === "GET") return this.referrers(route.digest, r)
        break
    }
    throw new DistributionError({ status: 405, code: "UNSUPPORTED", reason: `${m} is not supported on ${r.path}` })
  }

  /** index.json entries, re-read only when the file changed (HEAD by tag is the hot path). */
  private async indexEntries(): Promise<readonly Descriptor[]> {
    const s = await stat(this.store.layout.indexPath, { bigint: true })
    const key = `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`
    if (this.indexCache?.key === key) return this.indexCache.entries
    const entries = await this.store.index()
    this.indexCache = { key, entries }
    return entries
  }

  private async tagNames(): Promise<string[]> {
    return (await this.indexEntries()).map((d) => d.annotations?.[REF_NAME]).filter((n): n is string => n !== undefined)
  }

  // ---- manifests -----------------------------------------------------------------------------

  private async factsOf(digest: Digest): Promise<ManifestFacts | undefined> {
    const known = this.facts.get(digest)
    if (known) return known
    const s = await this.store.stat(digest)
    if (!s || s.size > this.options.maxManifestBytes) return undefined
    const sniffed = sniffManifest(await this.store.read(digest, this.options.maxManifestBytes))
    if (!sniffed) return undefined
    const f = { ...sniffed, size: s.size }
    if (this.facts.size > 50_000) this.facts.clear()
    this.facts.set(digest, f)
    return f
  }

  private async resolveManifest(name: string, ref: string): Promise<{ digest: Digest; mediaType: string; size: number }> {
    const parsed = parseReference(ref)
    if (!parsed) throw new DistributionError({ status: 400, code: "MANIFEST_INVALID", reason: "reference is neither a tag nor a digest", detail: { reference: ref } })
    const unknown = new DistributionError({ status: 404, code: "MANIFEST_UNKNOWN", reason: `manifest unknown: ${name}:${ref}`, detail: { name, reference: ref } })
    if (parsed.kind === "tag") {
      const entry = (await this.indexEntries()).filter((d) => d.annotations?.[REF_NAME] === refName(name, parsed.tag)).at(-1)
      if (!entry) throw unknown
      const s = await this.store.stat(entry.digest)
      if (!s) throw unknown
      return { digest: entry.digest as Digest, mediaType: entry.mediaType, size: s.size }
    }
    const f = await this.factsOf(parsed.digest)
    if (!f) throw unknown
    return { digest: parsed.digest, mediaType: f.mediaType, size: f.size }
  }

  private async getManifest(name: string, ref: string, head: boolean) {
    const { digest, mediaType, size } = await this.resolveManifest(name, ref)
    const headers = { ...digestHeaders(digest), "Content-Type": mediaType, "Content-Length": String(size) }
    if (head) return HttpServerResponse.empty({ status: 200, headers })
    const bytes = await this.store.read(digest, this.options.maxManifestBytes)
    return HttpServerResponse.uint8Array(bytes, { status: 200, headers: digestHeaders(digest), contentType: mediaType })
  }

  private async putManifest(name: string, ref: string, r: V2Request) {
    const parsed = parseReference(ref)
    if (!parsed) throw new DistributionError({ status: 400, code: "MANIFEST_INVALID", reason: "reference is neither a tag nor a digest", detail: { reference: ref } })
    const bytes = await readBody(r.req, this.options.maxManifestBytes).catch((e) => {
      if (e instanceof BodyTooLargeError) {
        throw new DistributionError({ status: 413, code: "SIZE_INVALID", reason: `manifest larger than ${this.options.maxManifestBytes} bytes` })
      }
      throw e
    })
    const contentType = r.req.headers["content-type"]?.split(";")[0]?.trim()
    let doc: AnyManifest
    try {
      doc = await decodeAnyManifest(bytes, contentType && MANIFEST_KINDS.has(contentType) ? contentType : undefined)
    } catch (e) {
      if (e instanceof OciDecodeError) throw new DistributionError({ status: 400, code: "MANIFEST_INVALID", reason: e.message, detail: { path: e.path } })
      throw e
    }
    let digest = doc.digest
    if (parsed.kind === "digest") {
      // the digest in the URL may use another algorithm than the default (descriptor.md "Digests")
      if (digestAlgorithm(parsed.digest) !== digestAlgorithm(digest)) digest = await digestBytes(bytes, digestAlgorithm(parsed.digest))
      if (digest !== parsed.digest) {
        throw new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: "manifest bytes do not hash to the digest in the URL", detail: { expected: parsed.digest, actual: digest } })
      }
    }
    // every blob or manifest it references must be here already (distribution-spec "Pushing Manifests")
    const v = doc.value as { config?: Descriptor; layers?: readonly Descriptor[]; manifests?: readonly Descriptor[]; subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> }
    // only non-distributable layers may be absent (fetched from their urls), never a config or index entry
    const needed = [...(v.config ? [v.config] : []), ...(v.layers ?? []), ...(v.manifests ?? [])].filter((d) => !mayBeAbsent(d))
    for (const d of needed) {
      if (!(await this.store.has(d.digest))) {
        throw new DistributionError({ status: 400, code: "MANIFEST_BLOB_UNKNOWN", reason: `referenced blob ${d.digest} is not in this registry; push it first`, detail: { digest: d.digest } })
      }
    }
    const mediaType =
      (doc.value as { mediaType?: string }).mediaType ?? (contentType && MANIFEST_KINDS.has(contentType) ? contentType : doc.kind === "index" ? OciMediaType.ImageIndex : OciMediaType.ImageManifest)
    // held before it is visible: a manifest pushed by digest (an index's child) has no tag yet,
    // and a tagged one is unreferenced until the tag is written
    await this.hold(name, digest)
    await this.store.put({ digest, size: bytes.length }, bytes)
    const artifactType = v.artifactType ?? (v.config && !isIndexMediaType(mediaType) ? v.config.mediaType : undefined)
    this.facts.set(digest, {
      mediaType,
      size: bytes.length,
      ...(artifactType ? { artifactType } : {}),
      ...(v.subject ? { subject: v.subject.digest as Digest } : {}),
      ...(v.annotations ? { annotations: v.annotations } : {})
    })
    const descriptor: Descriptor = { mediaType, digest, size: bytes.length, ...(v.artifactType ? { artifactType: v.artifactType } : {}) } as Descriptor
    if (parsed.kind === "tag") await this.store.tag(refName(name, parsed.tag), descriptor)
    else if (v.subject) await this.store.addRoot(descriptor) // a referrer has no tag; keep it from GC
    // now referenced by a tag, a root or (by digest) its own lease: what it names needs no lease
    if (parsed.kind === "tag" || v.subject) await this.release(name, digest)
    for (const d of [...(v.config ? [v.config] : []), ...(v.layers ?? []), ...(v.manifests ?? [])]) await this.release(name, d.digest as Digest)
    return HttpServerResponse.empty({
      status: 201,
      headers: { Location: `/v2/${name}/manifests/${digest}`, ...digestHeaders(digest), ...(v.subject ? { "OCI-Subject": v.subject.digest } : {}) }
    })
  }

  private async deleteManifest(name: string, ref: string) {
    const parsed = parseReference(ref)
    if (!parsed) throw new DistributionError({ status: 400, code: "MANIFEST_INVALID", reason: "reference is neither a tag nor a digest", detail: { reference: ref } })
    const unknown = new DistributionError({ status: 404, code: "MANIFEST_UNKNOWN", reason: `manifest unknown: ${name}:${ref}`, detail: { name, reference: ref } })
    if (parsed.kind === "tag") {
      if (!(await this.store.untag(refName(name, parsed.tag)))) throw unknown
      return HttpServerResponse.empty({ status: 202 })
    }
    // by digest: drop every tag of this repository naming it; the bytes go at the next GC
    const tags = (await this.store.tags()).filter((t) => t.descriptor.digest === parsed.digest && splitRefName(t.name)?.name === name)
    if (tags.length === 0) throw unknown
    for (const t of tags) await this.store.untag(t.name)
    return HttpServerResponse.empty({ status: 202 })
  }

  // ---- blobs ---------------------------------------------------------------------------------

  private async getBlob(name: string, digestText: string, r: V2Request, head: boolean) {
    const digest = parseBlobDigest(digestText)
    if (!digest) throw new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: "not a digest this registry supports", detail: { digest: digestText } })
    const unknown = new DistributionError({ status: 404, code: "BLOB_UNKNOWN", reason: `blob unknown: ${digest}`, detail: { digest } })
    const s = await this.store.stat(digest)
    if (!s) throw unknown
    // HEAD is how a pusher asks whether it may skip an upload: if it skips, the blob must still
    // be here when its manifest arrives, so it is held just like an uploaded one
    if (head && this.options.holdOnHead !== false) {
      await this.hold(name, digest)
      if (!(await this.store.has(digest))) throw unknown
    }
    const range = parseRange(r.req.headers.range, s.size)
    const base = { ...digestHeaders(digest), "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream" }
    if (range.kind === "unsatisfiable") {
      throw new DistributionError({
        status: 416,
        code: "RANGE_INVALID",
        reason: `range ${r.req.headers.range} lies beyond the blob (${s.size} bytes)`,
        detail: { size: s.size },
        headers: { "Content-Range": `bytes */${s.size}` }
      })
    }
    const [start, end, status] = range.kind === "partial" ? [range.start, range.end, 206] : [0, s.size - 1, 200]
    const headers: Record<string, string> = { ...base, "Content-Length": String(end - start + 1) }
    if (status === 206) headers["Content-Range"] = `bytes ${start}-${end}/${s.size}`
    if (head || s.size === 0) return HttpServerResponse.empty({ status, headers })
    const stream = createReadStream(this.store.layout.blobPath(digest), { start, end, highWaterMark: 1 << 20 })
    return HttpServerResponse.raw(stream, { status, headers })
  }

  // ---- uploads -------------------------------------------------------------------------------

  private uploadStatus(s: UploadSession, status: number) {
    return HttpServerResponse.empty({
      status,
      headers: {
        Location: `/v2/${s.name}/blobs/uploads/${s.id}`,
        Range: `0-${Math.max(0, s.size - 1)}`,
        "Docker-Upload-UUID": s.id,
        ...(status === 202 ? { "Content-Length": "0" } : {})
      }
    })
  }

  private created(name: string, digest: Digest) {
    return HttpServerResponse.empty({ status: 201, headers: { Location: `/v2/${name}/blobs/${digest}`, ...digestHeaders(digest), "Content-Length": "0" } })
  }

  private requireDigest(text: string | null): Digest {
    const d = text === null ? undefined : parseBlobDigest(text)
    if (!d) throw new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: "a valid ?digest= is required", detail: { digest: text } })
    return d
  }

  // ---- push leases ---------------------------------------------------------------------------

  /** Hold `digest` from GC for the upload grace period (renewed by every push of it). */
  private async hold(name: string, digest: Digest): Promise<void> {
    const id = pushLeaseId(name, digest)
    const lease = await this.store.createLease({ id, ttlMs: this.options.uploadGraceMs ?? 3_600_000, digests: [digest] })
    this.held.set(id, lease.expiresAt)
    // HEADs without a push after them would otherwise grow this for the life of the process
    if (this.held.size > 10_000) {
      const now = Date.now()
      for (const [k, expires] of this.held) if (expires <= now) this.held.delete(k)
    }
  }

  private async release(name: string, digest: Digest): Promise<void> {
    const id = pushLeaseId(name, digest)
    if (!this.held.delete(id)) return
    await this.store.releaseLease(id)
  }

  /**
   * Verify `data` as `digest` and make it visible, held by a push lease. The bytes are staged
   * under a temporary name, never under the digest the client claims, so an aborted or refused
   * upload leaves nothing behind in the store's ingest area.
   */
  async putVerified(name: string, digest: Digest, size: number | undefined, data: AsyncIterable<Uint8Array>): Promise<void> {
    if (size !== undefined && size > this.options.maxBlobBytes) throw new BodyTooLargeError({ limit: this.options.maxBlobBytes, received: size })
    const have = await this.store.stat(digest)
    if (have && (size === undefined || have.size === size)) {
      await this.hold(name, digest)
      // the first writer's copy is what GC must keep: it may have gone between stat and hold
      if (await this.store.has(digest)) return
    }
    const staged = await this.store.stage(data, { algorithm: digestAlgorithm(digest), ...(size === undefined ? {} : { size }) })
    try {
      if (staged.digest !== digest) throw new DigestMismatchError({ expected: digest, actual: staged.digest, bytes: staged.size })
      await this.hold(name, digest)
    } catch (e) {
      await staged.discard()
      throw e
    }
    await staged.commit()
  }

  /** Store a whole blob from a request body: verified by the store before it becomes visible. */
  private async putBlob(name: string, digest: Digest, req: IncomingMessage) {
    try {
      await this.putVerified(name, digest, contentLength(req), limitedBody(req, this.options.maxBlobBytes))
    } catch (e) {
      throw this.uploadFailure(e, digest)
    }
  }

  private uploadFailure(e: unknown, digest: Digest): unknown {
    if (e instanceof DigestMismatchError) {
      return new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: `uploaded bytes hash to ${e.actual}, not ${digest}`, detail: { expected: digest, actual: e.actual } })
    }
    if (e instanceof SizeMismatchError) {
      return new DistributionError({ status: 400, code: "SIZE_INVALID", reason: `uploaded ${e.actual} bytes, expected ${e.expected}`, detail: { expected: e.expected, actual: e.actual } })
    }
    if (e instanceof BodyTooLargeError) {
      return new DistributionError({ status: 413, code: "SIZE_INVALID", reason: e.message, detail: { limit: e.limit } })
    }
    return e
  }

  private async startUpload(name: string, r: V2Request) {
    const mount = r.query.get("mount")
    if (mount !== null) {
      // one store behind every repository: a mount succeeds whenever the blob is here
      const d = parseBlobDigest(mount)
      if (d && (await this.store.has(d))) {
        await this.hold(name, d)
        if (await this.store.has(d)) return this.created(name, d)
      }
    } else if (r.query.has("digest")) {
      const digest = this.requireDigest(r.query.get("digest"))
      await this.putBlob(name, digest, r.req)
      return this.created(name, digest)
    }
    const s = await this.uploads.create(name)
    return this.uploadStatus(s, 202)
  }

  private checkRange(s: UploadSession, r: V2Request) {
    const cr = parseContentRange(r.req.headers["content-range"])
    if (cr === undefined) return
    const len = contentLength(r.req)
    if (cr === "invalid" || cr.start !== s.size || (len !== undefined && cr.end - cr.start + 1 !== len)) {
      throw new DistributionError({
        status: 416,
        code: "BLOB_UPLOAD_INVALID",
        reason: `chunk ${r.req.headers["content-range"]} does not continue the upload at offset ${s.size}`,
        detail: { offset: s.size },
        headers: { Location: `/v2/${s.name}/blobs/uploads/${s.id}`, Range: `0-${Math.max(0, s.size - 1)}`, "Docker-Upload-UUID": s.id }
      })
    }
  }

  private async patchUpload(s: UploadSession, r: V2Request) {
    this.checkRange(s, r)
    try {
      await this.uploads.append(s, limitedBody(r.req, this.options.maxBlobBytes))
    } catch (e) {
      throw this.uploadFailure(e, "" as Digest)
    }
    return this.uploadStatus(s, 202)
  }

  private async finishUpload(s: UploadSession, r: V2Request) {
    const digest = this.requireDigest(r.query.get("digest"))
    this.checkRange(s, r)
    const hasBody = (contentLength(r.req) ?? (r.req.headers["transfer-encoding"] ? 1 : 0)) > 0
    if (s.size === 0 && hasBody) {
      // whole blob in the closing PUT: stream it straight into the store
      try {
        await this.putBlob(s.name, digest, r.req)
      } finally {
        await this.uploads.drop(s)
      }
      return this.created(s.name, digest)
    }
    try {
      await this.uploads.finish(s, hasBody ? limitedBody(r.req, this.options.maxBlobBytes) : undefined, (size, data) => this.putVerified(s.name, digest, size, data))
    } catch (e) {
      throw this.uploadFailure(e, digest)
    }
    return this.created(s.name, digest)
  }

  // ---- listings ------------------------------------------------------------------------------

  private paginate(all: string[], r: V2Request, link: (n: number, last: string) => string) {
    const nText = r.query.get("n")
    const last = r.query.get("last")
    let items = [...new Set(all)].sort()
    if (last !== null) items = items.filter((t) => t > last)
    const headers: Record<string, string> = {}
    if (nText !== null) {
      const n = Number(nText)
      if (!Number.isInteger(n) || n < 0) throw new DistributionError({ status: 400, code: "UNSUPPORTED", reason: "n must be a non-negative integer", detail: { n: nText } })
      if (items.length > n) {
        items = items.slice(0, n)
        const tail = items.at(-1)
        if (tail !== undefined) headers.Link = `<${link(n, tail)}>; rel="next"`
      }
    }
    return { items, headers }
  }

  private async tagsList(name: string, r: V2Request) {
    const tags = (await this.tagNames()).map(splitRefName).filter((t) => t?.name === name).map((t) => t!.tag)
    if (tags.length === 0) throw new DistributionError({ status: 404, code: "NAME_UNKNOWN", reason: `repository ${name} is not known to this registry`, detail: { name } })
    const { items, headers } = this.paginate(tags, r, (n, last) => `/v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(last)}`)
    return HttpServerResponse.jsonUnsafe({ name, tags: items }, { headers })
  }

  private async catalog(r: V2Request) {
    const names = (await this.tagNames()).map((t) => splitRefName(t)?.name).filter((n): n is string => n !== undefined)
    const { items, headers } = this.paginate(names, r, (n, last) => `/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`)
    return HttpServerResponse.jsonUnsafe({ repositories: items }, { headers })
  }

  private async referrers(digestText: string, r: V2Request) {
    const subject = parseBlobDigest(digestText)
    if (!subject) throw new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: "not a digest this registry supports", detail: { digest: digestText } })
    const filter = r.query.get("artifactType")
    const manifests: Descriptor[] = []
    const seen = new Set<string>()
    for (const d of await this.indexEntries()) {
      if (seen.has(d.digest)) continue
      seen.add(d.digest)
      const f = await this.factsOf(d.digest as Digest)
      if (!f || f.subject !== subject) continue
      if (filter !== null && f.artifactType !== filter) continue
      manifests.push({
        mediaType: f.mediaType,
        digest: d.digest,
        size: f.size,
        ...(f.artifactType ? { artifactType: f.artifactType } : {}),
        ...(f.annotations ? { annotations: f.annotations } : {})
      } as Descriptor)
    }
    const body = { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests }
    return HttpServerResponse.jsonUnsafe(body, {
      contentType: OciMediaType.ImageIndex,
      headers: filter !== null ? { "OCI-Filters-Applied": "artifactType" } : {}
    })
  }
}
