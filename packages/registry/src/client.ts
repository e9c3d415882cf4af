// The distribution-spec v1.1 operations, Promise-based: manifests, blobs (download with resume,
// upload monolithic / chunked / by cross-repository mount), tags and referrers.
import {
  type Digest,
  DigestMismatchError,
  digestAlgorithm,
  digestBytes,
  digestHex,
  nodeBackend,
  parseDigest,
  SizeMismatchError
} from "@cairn/digest"
import {
  type AnyManifest,
  type Descriptor,
  DockerMediaType,
  decodeAnyManifest,
  dockerToOciIndex,
  dockerToOciManifest,
  type ImageIndex,
  type ImageManifest,
  OciMediaType,
  type PlatformLike,
  selectManifest
} from "@cairn/oci-spec"
import { Readable, Transform } from "node:stream"
import { setTimeout as sleep } from "node:timers/promises"
import { Authenticator, type CredentialStore, repositoryScope } from "./auth.js"
import type { BlobDescriptor, BlobSink } from "./blobTransfer.js"
import { dockerConfigCredentials } from "./dockerConfig.js"
import { Endpoint, registryError } from "./endpoint.js"
import {
  AuthError,
  BlobSinkError,
  ContentLengthError,
  ManifestDigestError,
  ManifestTooLargeError,
  RegistryError,
  TransportError,
  UnsupportedManifestError
} from "./errors.js"
import { isLoopbackRegistry, parseReference, parseRepository, type Reference, referenceTarget, registryHost } from "./reference.js"
import { isRegistryFailure } from "./failure.js"
import { type HttpResponse, Transport, type TransportOptions } from "./transport.js"

/** distribution-spec "Pushing manifests": registries SHOULD accept manifests up to 4 MiB. */
export const DEFAULT_MANIFEST_LIMIT = 4 * 1024 * 1024

/** Every manifest type cairn reads, best first. */
export const MANIFEST_ACCEPT = [
  OciMediaType.ImageIndex,
  OciMediaType.ImageManifest,
  DockerMediaType.ManifestList,
  DockerMediaType.Manifest
] as const

export interface RegistryClientOptions {
  /** where credentials come from (default: the Docker config file, see dockerConfigCredentials) */
  readonly credentials?: CredentialStore
  /** plain HTTP for these registries (`host:port`), or for all when true; loopback always gets it */
  readonly plainHttp?: boolean | readonly string[]
  /** a shared Transport, or options for the client's own */
  readonly transport?: Transport | TransportOptions
  /** largest manifest accepted, in bytes (default 4 MiB) */
  readonly manifestLimit?: number
}

/** A manifest as fetched: the exact bytes, their digest, and the decoded document. */
export interface FetchedManifest {
  readonly mediaType: string
  readonly digest: Digest
  readonly size: number
  readonly bytes: Uint8Array
  readonly document: AnyManifest
}

/** A reference resolved to one image manifest (through an index when there is one). */
export interface ResolvedImage {
  readonly reference: Reference
  /** what the reference points at (an index or the manifest itself) */
  readonly root: FetchedManifest
  /** the platform's image manifest (the root itself for a single-platform image) */
  readonly manifest: FetchedManifest
  /** the manifest as OCI (Docker media types mapped), to read config and layers from */
  readonly image: ImageManifest
}

export interface BlobProgress {
  readonly digest: Digest
  /** bytes of this blob held so far, including a resumed prefix */
  readonly bytes: number
  readonly size: number
}

export interface PullBlobOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (p: BlobProgress) => void
  /** also hash on our side before the sink sees the end (default true; the sink verifies regardless) */
  readonly verify?: boolean
}

export interface PullBlobResult {
  readonly skipped: boolean
  /** bytes received from the network for this blob */
  readonly transferred: number
  /** offset the transfer resumed from (0 when it started fresh) */
  readonly resumedFrom: number
}

export interface PushBlobOptions {
  readonly signal?: AbortSignal
  /** try a cross-repository mount from these repositories (same registry) first */
  readonly mountFrom?: readonly string[]
  /** upload in PATCH chunks of this many bytes instead of one PUT */
  readonly chunkSize?: number
  readonly onProgress?: (p: BlobProgress) => void
}

export interface PushBlobResult {
  readonly how: "exists" | "mounted" | "uploaded"
}

export type RepositoryRef = Reference | string

const asRef = (r: RepositoryRef): Reference => (typeof r === "string" ? parseReference(r) : r)

const isNetworkCut = (e: unknown): boolean => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  const msg = (e as Error | undefined)?.message ?? ""
  return (
    e instanceof TransportError ||
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    code === "ETIMEDOUT" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    msg === "aborted" ||
    msg.includes("socket hang up")
  )
}

const stripParams = (ct: string | undefined) => ct?.split(";")[0]?.trim()

/** `bytes <start>-<end>/<total|*>` (RFC 9110 14.4). */
function parseContentRange(v: string | undefined): { start: number; end: number } | undefined {
  const m = v === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim())
  return m ? { start: Number(m[1]), end: Number(m[2]) } : undefined
}

/** A distribution-spec v1.1 client for any number of registries. */
export class RegistryClient {
  readonly transport: Transport
  readonly manifestLimit: number
  private readonly ownsTransport: boolean
  private readonly auth: Authenticator
  private readonly endpoints = new Map<string, Endpoint>()
  private readonly plainHttp: boolean | readonly string[]
  private readonly badIngest = new Set<string>()

  constructor(options: RegistryClientOptions = {}) {
    this.ownsTransport = !(options.transport instanceof Transport)
    this.transport = options.transport instanceof Transport ? options.transport : new Transport(options.transport)
    this.auth = new Authenticator(this.transport, options.credentials ?? dockerConfigCredentials())
    this.plainHttp = options.plainHttp ?? false
    this.manifestLimit = options.manifestLimit ?? DEFAULT_MANIFEST_LIMIT
  }

  /** The endpoint for a registry name; plain HTTP for loopback and the registries named in `plainHttp`. */
  endpoint(registry: string): Endpoint {
    let ep = this.endpoints.get(registry)
    if (ep === undefined) {
      const plain =
        this.plainHttp === true ||
        (Array.isArray(this.plainHttp) && this.plainHttp.includes(registry)) ||
        isLoopbackRegistry(registry)
      ep = new Endpoint(registry, new URL(`${plain ? "http" : "https"}://${registryHost(registry)}`), this.transport, this.auth)
      this.endpoints.set(registry, ep)
    }
    return ep
  }

  // ---- manifests -------------------------------------------------------------------------

  /**
   * GETs a manifest by tag or digest, reading at most `manifestLimit` bytes, and checks its digest
   * from the exact bytes against the reference's digest and against Docker-Content-Digest.
   */
  async getManifest(reference: RepositoryRef, options: { signal?: AbortSignal; accept?: readonly string[] } = {}): Promise<FetchedManifest> {
    const ref = asRef(reference)
    const ep = this.endpoint(ref.registry)
    const path = `/v2/${ref.repository}/manifests/${referenceTarget(ref)}`
    for (let attempt = 1; ; attempt++) {
      const res = await ep.send({
        method: "GET",
        path,
        headers: { accept: (options.accept ?? MANIFEST_ACCEPT).join(", ") },
        scopes: [repositoryScope(ref.repository, "pull")],
        signal: options.signal
      })
      if (res.status !== 200) throw await registryError("GET", res)
      const url = res.url.href
      const announced = Number(res.header("content-length") ?? "NaN")
      if (announced > this.manifestLimit) {
        res.body.destroy()
        throw new ManifestTooLargeError({ url, limit: this.manifestLimit, size: announced })
      }
      let bytes: Buffer
      try {
        bytes = await res.bytes(this.manifestLimit, (n) => new ManifestTooLargeError({ url, limit: this.manifestLimit, size: n }))
      } catch (e) {
        // the connection dropped mid-body (or a lying Content-Length cut it short): ask again
        if (!isNetworkCut(e) || options.signal?.aborted) throw e
        if (attempt < this.transport.retry.attempts) continue
        throw new TransportError({ method: "GET", url, reason: (e as Error).message, attempts: attempt })
      }
      return this.checkManifest(url, ref, bytes, stripParams(res.header("content-type")), res.header("docker-content-digest"))
    }
  }

  private async checkManifest(url: string, ref: Reference, bytes: Uint8Array, contentType: string | undefined, dcd: string | undefined) {
    const checks: Array<[Digest, "reference" | "Docker-Content-Digest"]> = []
    if (ref.digest !== undefined) checks.push([ref.digest, "reference"])
    if (dcd !== undefined && dcd !== "") {
      let d: Digest
      try {
        d = parseDigest(dcd.trim())
      } catch {
        throw new ManifestDigestError({ url, expected: dcd, actual: await digestBytes(bytes), source: "Docker-Content-Digest" })
      }
      checks.push([d, "Docker-Content-Digest"])
    }
    let digest = await digestBytes(bytes, checks[0] === undefined ? "sha256" : digestAlgorithm(checks[0][0]))
    for (const [expected, source] of checks) {
      const actual = digestAlgorithm(expected) === digestAlgorithm(digest) ? digest : await digestBytes(bytes, digestAlgorithm(expected))
      if (actual !== expected) throw new ManifestDigestError({ url, expected, actual, source })
    }
    if (ref.digest !== undefined) digest = ref.digest
    const known = contentType !== undefined && (MANIFEST_ACCEPT as readonly string[]).includes(contentType)
    if (contentType !== undefined && /schema1|v1\+(pretty)?jws|manifest\.v1\+json/.test(contentType) && !known) {
      throw new UnsupportedManifestError({ url, mediaType: contentType })
    }
    const document = await decodeAnyManifest(bytes, known ? contentType : undefined)
    const mediaType = (document.value as { mediaType?: string }).mediaType ?? contentType ?? OciMediaType.ImageManifest
    return { mediaType, digest, size: bytes.length, bytes, document }
  }

  /** HEAD of a manifest: its digest, size and type, or undefined when the registry has none. */
  async headManifest(reference: RepositoryRef, options: { signal?: AbortSignal } = {}) {
    const ref = asRef(reference)
    const res = await this.endpoint(ref.registry).send({
      method: "HEAD",
      path: `/v2/${ref.repository}/manifests/${referenceTarget(ref)}`,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scopes: [repositoryScope(ref.repository, "pull")],
      signal: options.signal
    })
    res.discard()
    if (res.status === 404) return undefined
    if (res.status !== 200) throw await registryError("HEAD", res)
    const dcd = res.header("docker-content-digest")
    return {
      digest: dcd ? parseDigest(dcd) : undefined,
      size: Number(res.header("content-length") ?? "NaN"),
      mediaType: stripParams(res.header("content-type"))
    }
  }

  /**
   * Resolves a reference to one image manifest: an index is narrowed to the platform
   * (host by default) and the chosen manifest fetched by digest and checked.
   */
  async resolve(reference: RepositoryRef, options: { platform?: PlatformLike | string; signal?: AbortSignal } = {}): Promise<ResolvedImage> {
    const ref = asRef(reference)
    const root = await this.getManifest(ref, options.signal ? { signal: options.signal } : {})
    let manifest = root
    const doc = root.document
    if (doc.kind === "index" || doc.kind === "docker-manifest-list") {
      const index: ImageIndex = doc.kind === "index" ? doc.value : dockerToOciIndex(doc.value)
      const chosen = selectManifest(index, options.platform)
      manifest = await this.getManifest({ ...ref, digest: chosen.digest }, options.signal ? { signal: options.signal } : {})
      if (manifest.size !== chosen.size) {
        throw new ManifestDigestError({ url: this.endpoint(ref.registry).url(`/v2/${ref.repository}/manifests/${chosen.digest}`).href, expected: `${chosen.size} bytes`, actual: `${manifest.size} bytes`, source: "reference" })
      }
    }
    const m = manifest.document
    if (m.kind !== "manifest" && m.kind !== "docker-manifest") {
      throw new UnsupportedManifestError({ url: this.endpoint(ref.registry).url(`/v2/${ref.repository}/manifests/${manifest.digest}`).href, mediaType: `${manifest.mediaType} inside an index` })
    }
    const image = m.kind === "manifest" ? m.value : dockerToOciManifest(m.value)
    return { reference: ref, root, manifest, image }
  }

  /**
   * PUTs a manifest under a tag or a digest (`reference.digest` wins); returns the digest of the bytes.
   * The registry's Docker-Content-Digest, when sent, must agree.
   */
  async putManifest(reference: RepositoryRef, manifest: { bytes: Uint8Array; mediaType: string }, options: { signal?: AbortSignal } = {}): Promise<Digest> {
    const ref = asRef(reference)
    const digest = await digestBytes(manifest.bytes, ref.digest ? digestAlgorithm(ref.digest) : "sha256")
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw new DigestMismatchError({ expected: ref.digest, actual: digest, bytes: manifest.bytes.length })
    }
    if (manifest.bytes.length > this.manifestLimit) {
      throw new ManifestTooLargeError({ url: `${ref.registry}/${ref.repository}`, limit: this.manifestLimit, size: manifest.bytes.length })
    }
    const res = await this.endpoint(ref.registry).send({
      method: "PUT",
      path: `/v2/${ref.repository}/manifests/${referenceTarget(ref)}`,
      headers: { "content-type": manifest.mediaType },
      body: manifest.bytes,
      scopes: [repositoryScope(ref.repository, "pull,push")],
      signal: options.signal
    })
    if (res.status !== 201 && res.status !== 200) throw await registryError("PUT", res)
    res.discard()
    const dcd = res.header("docker-content-digest")
    if (dcd && dcd !== digest) throw new ManifestDigestError({ url: res.url.href, expected: dcd, actual: digest, source: "Docker-Content-Digest" })
    // distribution-spec "Pushing Manifests with Subject": without OCI-Subject in the answer the
    // registry has no referrers API, and the client maintains the fallback tag itself
    const subject = subjectOf(manifest.bytes)
    if (subject !== undefined && res.header("oci-subject") === undefined) {
      await this.addReferrerByTag(ref, subject.subject, {
        mediaType: manifest.mediaType,
        digest,
        size: manifest.bytes.length,
        ...(subject.artifactType === undefined ? {} : { artifactType: subject.artifactType }),
        ...(subject.annotations === undefined ? {} : { annotations: subject.annotations })
      }, options.signal)
    }
    return digest
  }

  private async addReferrerByTag(ref: Reference, subject: Digest, desc: Descriptor, signal?: AbortSignal): Promise<void> {
    const tagRef: Reference = { registry: ref.registry, repository: ref.repository, tag: referrersTag(subject) }
    let manifests: Descriptor[] = []
    try {
      const got = await this.getManifest(tagRef, { accept: [OciMediaType.ImageIndex], ...(signal ? { signal } : {}) })
      if (got.document.kind === "index") manifests = [...got.document.value.manifests]
    } catch (e) {
      if (!(e instanceof RegistryError && e.status === 404)) throw e
    }
    if (manifests.some((m) => m.digest === desc.digest)) return
    manifests.push(desc)
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests }))
    await this.putManifest(tagRef, { bytes, mediaType: OciMediaType.ImageIndex }, signal ? { signal } : {})
  }

  // ---- blobs -----------------------------------------------------------------------------

  /** HEAD of a blob: its size, or undefined when the repository does not have it. */
  async statBlob(reference: RepositoryRef, digest: Digest, options: { signal?: AbortSignal } = {}): Promise<{ size: number } | undefined> {
    const ref = asRef(reference)
    const res = await this.endpoint(ref.registry).send({
      method: "HEAD",
      path: `/v2/${ref.repository}/blobs/${digest}`,
      scopes: [repositoryScope(ref.repository, "pull")],
      signal: options.signal
    })
    res.discard()
    if (res.status === 404) return undefined
    if (res.status !== 200) throw await registryError("HEAD", res)
    return { size: Number(res.header("content-length") ?? "NaN") }
  }

  /**
   * GETs a blob (from `offset` with a Range request). `offset` in the result is where the body
   * really starts: 0 when the registry ignored the range. Redirects to storage are followed.
   */
  async openBlob(
    reference: RepositoryRef,
    desc: BlobDescriptor,
    options: { offset?: number; signal?: AbortSignal } = {}
  ): Promise<{ body: Readable; offset: number; response: HttpResponse }> {
    const ref = asRef(reference)
    const offset = options.offset ?? 0
    const res = await this.endpoint(ref.registry).send({
      method: "GET",
      path: `/v2/${ref.repository}/blobs/${desc.digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [repositoryScope(ref.repository, "pull")],
      signal: options.signal
    })
    let start = 0
    if (res.status === 206 && offset > 0) {
      const cr = parseContentRange(res.header("content-range"))
      // a 206 for some other range would splice wrong bytes in: refuse it
      if (cr === undefined || cr.start !== offset || cr.end !== desc.size - 1) {
        res.body.destroy()
        throw new RegistryError({ method: "GET", url: res.url.href, status: 206, code: "RANGE_MISMATCH", detail: `asked for bytes ${offset}-, got Content-Range ${res.header("content-range") ?? "(none)"}` })
      }
      start = offset
    } else if (res.status !== 200) {
      throw await registryError("GET", res)
    }
    const cl = res.header("content-length")
    if (cl !== undefined && Number(cl) !== desc.size - start) {
      res.body.destroy()
      throw new ContentLengthError({ url: res.url.href, digest: desc.digest, expected: desc.size - start, announced: Number(cl) })
    }
    return { body: res.body, offset: start, response: res }
  }

  /**
   * Pulls one blob into a sink: skipped when the sink has it; resumed with Range from the sink's
   * ingest offset after a cut; size (and by default digest) checked before the sink sees the end,
   * so a bad blob never becomes visible.
   */
  async pullBlob(reference: RepositoryRef, desc: BlobDescriptor, sink: BlobSink, options: PullBlobOptions = {}): Promise<PullBlobResult> {
    const ref = asRef(reference)
    if (await this.sinkCall(desc.digest, () => sink.has(desc.digest))) return { skipped: true, transferred: 0, resumedFrom: 0 }
    const attempts = this.transport.retry.attempts
    let transferred = 0
    let firstOffset: number | undefined
    // after a bad download of this digest the sink's ingest holds bad bytes: never resume onto them
    let canResume = sink.ingestOffset !== undefined && sink.resume !== undefined && !this.badIngest.has(desc.digest)
    for (let attempt = 1; ; attempt++) {
      let offset = canResume ? await this.sinkCall(desc.digest, () => sink.ingestOffset!(desc.digest)) : 0
      if (offset > desc.size) offset = 0
      firstOffset ??= offset
      let sourceError: unknown
      const counted = { n: 0 }
      try {
        let data: AsyncIterable<Uint8Array>
        if (offset === desc.size) data = Readable.from([])
        else {
          let opened: Awaited<ReturnType<RegistryClient["openBlob"]>>
          try {
            opened = await this.openBlob(ref, desc, { offset, ...(options.signal ? { signal: options.signal } : {}) })
          } catch (e) {
            // a lying Content-Length or a mangled range may be a proxy's hiccup: retry, then report it
            if ((e instanceof ContentLengthError || (e instanceof RegistryError && e.code === "RANGE_MISMATCH")) && attempt < attempts) continue
            throw e
          }
          offset = opened.offset
          data = await this.checked(opened.body, desc, offset, counted, options)
        }
        data = trackErrors(data, (e) => (sourceError = e))
        const r =
          offset > 0 && sink.resume
            ? await sink.resume(desc, offset, data)
            : await sink.put(desc, data)
        transferred += counted.n
        void r
        this.badIngest.delete(desc.digest)
        return { skipped: false, transferred, resumedFrom: firstOffset }
      } catch (e) {
        transferred += counted.n
        if (sourceError === undefined) {
          // a resumed blob that fails the sink's check had a bad prefix (e.g. from a corrupt earlier
          // download): start over once from byte 0, which `put` does by contract
          if (offset > 0 && canResume && (e instanceof DigestMismatchError || e instanceof SizeMismatchError) && attempt < attempts) {
            canResume = false
            continue
          }
          // the request or the sink failed by itself; typed failures (the sink's own verification
          // errors included) pass through as they are
          if (isRegistryFailure(e)) throw e
          if (options.signal?.aborted) throw options.signal.reason ?? e
          throw new BlobSinkError({ digest: desc.digest, reason: (e as Error)?.message ?? String(e), cause: e })
        }
        if (options.signal?.aborted) throw options.signal.reason ?? sourceError
        // a cut connection (or a body that ended short) resumes; anything else is final
        const short = sourceError instanceof SizeMismatchError && !sourceError.early
        if (!short && (sourceError instanceof DigestMismatchError || sourceError instanceof SizeMismatchError)) this.badIngest.add(desc.digest)
        if ((isNetworkCut(sourceError) || short) && attempt < attempts) continue
        if (isNetworkCut(sourceError)) {
          throw new TransportError({ method: "GET", url: `${ref.registry}/${ref.repository}@${desc.digest}`, reason: (sourceError as Error).message, attempts: attempt })
        }
        throw sourceError
      }
    }
  }

  private async sinkCall<T>(digest: Digest, f: () => Promise<T>): Promise<T> {
    try {
      return await f()
    } catch (e) {
      throw e instanceof BlobSinkError ? e : new BlobSinkError({ digest, reason: (e as Error)?.message ?? String(e), cause: e })
    }
  }

  /**
   * Wraps a response body: counts, reports progress, enforces the size, and (on a fresh transfer)
   * hashes. A generator, not a stream chain, so nothing sits in intermediate buffers when the
   * connection drops: what the sink got is all that was received, and the resume starts there.
   * A failed check throws before the iteration ends, so the sink never sees a clean end.
   */
  private async checked(
    body: Readable,
    desc: BlobDescriptor,
    offset: number,
    counted: { n: number },
    options: PullBlobOptions
  ): Promise<AsyncIterable<Uint8Array>> {
    const remaining = desc.size - offset
    const onProgress = options.onProgress
    // the sink verifies too; this catches a bad blob even with a trusting sink (node:crypto: fast path)
    const hasher = offset > 0 || options.verify === false ? undefined : await nodeBackend.create(digestAlgorithm(desc.digest))
    return (async function* () {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        counted.n += chunk.length
        if (counted.n > remaining) {
          body.destroy()
          throw new SizeMismatchError({ expected: desc.size, actual: offset + counted.n, early: true })
        }
        hasher?.update(chunk)
        onProgress?.({ digest: desc.digest, bytes: offset + counted.n, size: desc.size })
        yield chunk
      }
      if (counted.n !== remaining) throw new SizeMismatchError({ expected: desc.size, actual: offset + counted.n, early: false })
      const actual = hasher?.digest()
      if (actual !== undefined && actual !== desc.digest) throw new DigestMismatchError({ expected: desc.digest, actual, bytes: desc.size })
    })()
  }

  /**
   * Pushes one blob: nothing when the registry has it (HEAD), a cross-repository mount when a
   * `mountFrom` repository has it, else an upload (one PUT, or PATCH chunks then PUT).
   */
  async pushBlob(
    reference: RepositoryRef,
    desc: BlobDescriptor,
    open: () => Promise<AsyncIterable<Uint8Array>>,
    options: PushBlobOptions = {}
  ): Promise<PushBlobResult> {
    const ref = asRef(reference)
    const ep = this.endpoint(ref.registry)
    const signal = options.signal
    if ((await this.statBlob(ref, desc.digest, signal ? { signal } : {})) !== undefined) return { how: "exists" }
    const push = repositoryScope(ref.repository, "pull,push")
    let location: URL | undefined
    for (const from of options.mountFrom ?? []) {
      if (from === ref.repository) continue
      parseRepository(from)
      // distribution-spec "Mounting a blob from another repository"
      const res = await ep.send({
        method: "POST",
        path: `/v2/${ref.repository}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`,
        scopes: [push, repositoryScope(from, "pull")],
        signal
      })
      if (res.status === 201) {
        res.discard()
        return { how: "mounted" }
      }
      if (res.status !== 202) throw await registryError("POST", res)
      res.discard()
      // the registry opened an upload session instead; use it
      location = this.location(ep, res)
      break
    }
    // An upload that fails midway leaves its session at an unknown offset: each retry opens a new
    // session (the transport does not resend upload bodies itself).
    const attempts = this.transport.retry.attempts
    for (let attempt = 1; ; attempt++) {
      try {
        if (location === undefined) {
          const res = await ep.send({ method: "POST", path: `/v2/${ref.repository}/blobs/uploads/`, scopes: [push], signal })
          if (res.status !== 202) throw await registryError("POST", res)
          res.discard()
          location = this.location(ep, res)
        }
        await this.upload(ep, location, desc, open, push, options)
        return { how: "uploaded" }
      } catch (e) {
        const again =
          e instanceof TransportError ||
          (e instanceof RegistryError && (e.status >= 500 || e.status === 429 || uploadRestartCodes.has(e.code ?? "")))
        if (!again || attempt >= attempts || signal?.aborted) throw e
        location = undefined
        await sleep(Math.min(this.transport.retry.maxDelayMs, this.transport.retry.baseDelayMs * 2 ** (attempt - 1)), undefined, signal ? { signal } : undefined)
      }
    }
  }

  private async upload(
    ep: Endpoint,
    location: URL,
    desc: BlobDescriptor,
    open: () => Promise<AsyncIterable<Uint8Array>>,
    push: string,
    options: PushBlobOptions
  ): Promise<void> {
    const signal = options.signal
    const chunk = options.chunkSize
    if (chunk !== undefined && chunk > 0 && desc.size > chunk) {
      location = await this.uploadChunks(ep, location, desc, await open(), chunk, push, options)
      const done = withDigest(location, desc.digest)
      const res = await ep.send({ method: "PUT", path: done.href, scopes: [push], signal, retry: false })
      if (res.status !== 201) throw await registryError("PUT", res)
      res.discard()
    } else {
      const done = withDigest(location, desc.digest)
      const onProgress = options.onProgress
      const res = await ep.send({
        method: "PUT",
        path: done.href,
        headers: { "content-type": "application/octet-stream" },
        body: async () => {
          const data = Readable.from(await open(), { objectMode: false })
          if (!onProgress) return data
          let n = 0
          return data.pipe(
            new Transform({
              transform(c: Buffer, _e, cb) {
                n += c.length
                onProgress({ digest: desc.digest, bytes: n, size: desc.size })
                cb(null, c)
              }
            })
          )
        },
        bodyLength: desc.size,
        scopes: [push],
        signal,
        retry: false
      })
      if (res.status !== 201) throw await registryError("PUT", res)
      res.discard()
    }
  }

  private location(ep: Endpoint, res: HttpResponse): URL {
    const loc = res.header("location")
    if (loc === undefined) throw new RegistryError({ method: "POST", url: res.url.href, status: res.status, code: "NO_LOCATION", detail: "upload session without a Location header" })
    return new URL(loc, ep.base)
  }

  // distribution-spec "Pushing a blob in chunks": PATCH with Content-Range <start>-<end>, each
  // answer's Location is the next URL.
  private async uploadChunks(
    ep: Endpoint,
    start: URL,
    desc: BlobDescriptor,
    data: AsyncIterable<Uint8Array>,
    chunkSize: number,
    scope: string,
    options: PushBlobOptions
  ): Promise<URL> {
    let location = start
    let offset = 0
    const send = async (chunk: Buffer) => {
      const res = await ep.send({
        method: "PATCH",
        path: location.href,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${offset + chunk.length - 1}`
        },
        body: chunk,
        scopes: [scope],
        signal: options.signal,
        retry: false
      })
      if (res.status !== 202) throw await registryError("PATCH", res)
      res.discard()
      location = new URL(res.header("location") ?? location.href, ep.base)
      offset += chunk.length
      options.onProgress?.({ digest: desc.digest, bytes: offset, size: desc.size })
    }
    let pending: Buffer[] = []
    let pendingBytes = 0
    for await (const c of data) {
      let buf = Buffer.from(c.buffer, c.byteOffset, c.byteLength)
      while (pendingBytes + buf.length >= chunkSize) {
        const take = chunkSize - pendingBytes
        pending.push(buf.subarray(0, take))
        await send(Buffer.concat(pending, chunkSize))
        buf = buf.subarray(take)
        pending = []
        pendingBytes = 0
      }
      if (buf.length > 0) {
        pending.push(Buffer.from(buf)) // copy: the source may reuse its buffer
        pendingBytes += buf.length
      }
    }
    if (pendingBytes > 0) await send(Buffer.concat(pending, pendingBytes))
    if (offset !== desc.size) throw new SizeMismatchError({ expected: desc.size, actual: offset, early: offset > desc.size })
    return location
  }

  // ---- tags and referrers ----------------------------------------------------------------

  /** All tags of a repository, following Link pagination (distribution-spec "Listing Tags"). */
  async listTags(reference: RepositoryRef, options: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    const ref = asRef(reference)
    const ep = this.endpoint(ref.registry)
    const tags: string[] = []
    let path: string | undefined = `/v2/${ref.repository}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ""}`
    for (let page = 0; path !== undefined && page < 10_000; page++) {
      const res: HttpResponse = await ep.send({ method: "GET", path, scopes: [repositoryScope(ref.repository, "pull")], signal: options.signal })
      if (res.status !== 200) throw await registryError("GET", res)
      const body = JSON.parse(await res.text(16 << 20)) as { tags?: string[] | null }
      tags.push(...(body.tags ?? []))
      path = nextLink(res.header("link"), res.url)
    }
    return tags
  }

  /**
   * The referrers of a manifest (distribution-spec "Listing Referrers"); when the registry has no
   * referrers API (404), the fallback tag `<alg>-<hex>` is read instead. Always an OCI index.
   */
  async referrers(reference: RepositoryRef, digest: Digest, options: { artifactType?: string; signal?: AbortSignal } = {}): Promise<ImageIndex> {
    const ref = asRef(reference)
    const ep = this.endpoint(ref.registry)
    const scopes = [repositoryScope(ref.repository, "pull")]
    const filter = (ms: readonly Descriptor[]) => (options.artifactType === undefined ? ms : ms.filter((m) => m.artifactType === options.artifactType))
    const q = options.artifactType === undefined ? "" : `?artifactType=${encodeURIComponent(options.artifactType)}`
    let path: string | undefined = `/v2/${ref.repository}/referrers/${digest}${q}`
    const manifests: Descriptor[] = []
    for (let page = 0; path !== undefined; page++) {
      const res: HttpResponse = await ep.send({ method: "GET", path, headers: { accept: OciMediaType.ImageIndex }, scopes, signal: options.signal })
      if (res.status === 404 && page === 0) {
        res.discard()
        return this.referrersByTag(ref, digest, filter, options.signal)
      }
      if (res.status !== 200) throw await registryError("GET", res)
      const bytes = await res.bytes(this.manifestLimit, (n) => new ManifestTooLargeError({ url: res.url.href, limit: this.manifestLimit, size: n }))
      const doc = await decodeAnyManifest(bytes, OciMediaType.ImageIndex)
      if (doc.kind !== "index") throw new UnsupportedManifestError({ url: res.url.href, mediaType: doc.kind })
      manifests.push(...doc.value.manifests)
      // the filter is a MAY for registries: apply it here unless the registry says it did
      path = nextLink(res.header("link"), res.url)
    }
    return { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: filter(manifests) }
  }

  private async referrersByTag(ref: Reference, digest: Digest, filter: (ms: readonly Descriptor[]) => readonly Descriptor[], signal?: AbortSignal): Promise<ImageIndex> {
    try {
      const got = await this.getManifest({ ...ref, tag: referrersTag(digest) }, { accept: [OciMediaType.ImageIndex], ...(signal ? { signal } : {}) })
      const doc = got.document
      const manifests = doc.kind === "index" ? doc.value.manifests : []
      return { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: filter(manifests) }
    } catch (e) {
      if (e instanceof RegistryError && e.status === 404) return { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: [] }
      throw e
    }
  }

  /**
   * Checks that the registry accepts this client's credentials (what `login` verifies before it
   * saves them): GET /v2/ through the usual challenge, Basic or a token with no scope. Fails with
   * AuthError when the credentials are missing or refused, RegistryError on another status.
   */
  async checkAuth(registry: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const res = await this.endpoint(registry).send({ method: "GET", path: "/v2/", scopes: [], signal: options.signal })
    if (res.status === 200) return res.discard()
    if (res.status === 401) {
      res.discard()
      throw new AuthError({ registry, reason: "the registry refused the credentials (HTTP 401)", status: 401 })
    }
    throw await registryError("GET", res)
  }

  /** Closes idle connections of a transport this client created. */
  close(): void {
    if (this.ownsTransport) this.transport.close()
  }
}

// distribution-spec error codes after which an upload session is not worth continuing
const uploadRestartCodes = new Set(["BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "SIZE_INVALID"])

/** The referrers fallback tag (distribution-spec "Referrers Tag Schema"): `<alg>-<hex>`, truncated to 128. */
export const referrersTag = (digest: Digest): string => `${digestAlgorithm(digest)}-${digestHex(digest)}`.slice(0, 128)

/** The subject of a manifest (and what a referrers index lists about it), if it has one. */
function subjectOf(bytes: Uint8Array): { subject: Digest; artifactType?: string; annotations?: Record<string, string> } | undefined {
  try {
    const m = JSON.parse(Buffer.from(bytes).toString("utf8")) as {
      subject?: { digest?: string }
      artifactType?: string
      config?: { mediaType?: string }
      annotations?: Record<string, string>
    }
    if (typeof m.subject?.digest !== "string") return undefined
    // image-spec manifest.md: artifactType, else the config's media type
    const artifactType = m.artifactType ?? m.config?.mediaType
    return {
      subject: parseDigest(m.subject.digest),
      ...(artifactType === undefined ? {} : { artifactType }),
      ...(m.annotations === undefined ? {} : { annotations: m.annotations })
    }
  } catch {
    return undefined
  }
}

function withDigest(location: URL, digest: Digest): URL {
  const u = new URL(location.href)
  u.searchParams.set("digest", digest)
  return u
}

/** RFC 8288 `Link: <url>; rel="next"`. */
function nextLink(link: string | undefined, base: URL): string | undefined {
  if (link === undefined) return undefined
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part)
    if (m && /rel="?next"?/.test(m[2]!)) return new URL(m[1]!, base).href
  }
  return undefined
}

async function* trackErrors(data: AsyncIterable<Uint8Array>, onError: (e: unknown) => void): AsyncGenerator<Uint8Array> {
  try {
    yield* data
  } catch (e) {
    onError(e)
    throw e
  }
}
