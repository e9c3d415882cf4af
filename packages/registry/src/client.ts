// The distribution-spec v1.1 client, Promise-based: one object holding the transport, the
// credentials and one endpoint per registry. Each operation lives in the file named after it:
// manifests.ts, referrers.ts, blobPull.ts (download with resume), blobPush.ts (upload), tags.ts;
// retry.ts is the one retry policy they and the transport follow.
import type { Digest } from "@cairn/digest"
import type { ImageIndex, PlatformLike } from "@cairn/oci-spec/lazy"
import type { Readable } from "node:stream"
import { Authenticator, type CredentialStore } from "./auth.js"
import * as blobPull from "./blobPull.js"
import type { PullBlobOptions, PullBlobResult } from "./blobPull.js"
import * as blobPush from "./blobPush.js"
import type { PushBlobOptions, PushBlobResult } from "./blobPush.js"
import type { BlobDescriptor, BlobSink } from "./blobTransfer.js"
import type { ClientContext, RepositoryRef } from "./context.js"
import { dockerConfigCredentials } from "./dockerConfig.js"
import { Endpoint, registryError } from "./endpoint.js"
import { AuthError } from "./errors.js"
import * as manifests from "./manifests.js"
import { DEFAULT_MANIFEST_LIMIT, type FetchedManifest, type ResolvedImage } from "./manifests.js"
import { isLoopbackRegistry, type Reference, registryHost } from "./reference.js"
import * as referrers from "./referrers.js"
import { type RegistriesConfig, insecureHosts, routesFor } from "./registriesConf.js"
import type { RetryPolicy } from "./retry.js"
import * as tags from "./tags.js"
import { type HttpResponse, Transport, type TransportOptions } from "./transport.js"

export type { BlobProgress, PullBlobOptions, PullBlobResult } from "./blobPull.js"
export type { PushBlobOptions, PushBlobResult } from "./blobPush.js"
export type { ClientContext, RepositoryRef } from "./context.js"
export { DEFAULT_MANIFEST_LIMIT, type FetchedManifest, MANIFEST_ACCEPT, type ResolvedImage } from "./manifests.js"
export { referrersTag } from "./referrers.js"

export interface RegistryClientOptions {
  /** where credentials come from (default: the Docker config file, see dockerConfigCredentials) */
  readonly credentials?: CredentialStore
  /** plain HTTP for these registries (`host:port`), or for all when true; loopback always gets it */
  readonly plainHttp?: boolean | readonly string[]
  /** a shared Transport, or options for the client's own */
  readonly transport?: Transport | TransportOptions
  /** largest manifest accepted, in bytes (default 4 MiB) */
  readonly manifestLimit?: number
  /** mirrors, locations, plain HTTP and blocks per registry prefix (registries.conf, see loadRegistriesConf) */
  readonly registries?: RegistriesConfig
}

/** A distribution-spec v1.1 client for any number of registries. */
export class RegistryClient implements ClientContext {
  readonly transport: Transport
  readonly manifestLimit: number
  readonly retry: RetryPolicy
  private readonly ownsTransport: boolean
  private readonly auth: Authenticator
  private readonly endpoints = new Map<string, Endpoint>()
  private readonly plainHttp: boolean | readonly string[]
  readonly badIngest = new Set<string>()
  /** the registries configuration this client follows (empty when none was given) */
  readonly registries: RegistriesConfig
  private readonly insecure: ReadonlySet<string>

  constructor(options: RegistryClientOptions = {}) {
    this.ownsTransport = !(options.transport instanceof Transport)
    this.transport = options.transport instanceof Transport ? options.transport : new Transport(options.transport)
    this.auth = new Authenticator(this.transport, options.credentials ?? dockerConfigCredentials())
    this.plainHttp = options.plainHttp ?? false
    this.manifestLimit = options.manifestLimit ?? DEFAULT_MANIFEST_LIMIT
    this.retry = this.transport.retry
    this.registries = options.registries ?? { registries: [] }
    this.insecure = new Set(insecureHosts(this.registries))
  }

  /** The endpoint for a registry name; plain HTTP for loopback and the registries named in `plainHttp`. */
  endpoint(registry: string): Endpoint {
    let ep = this.endpoints.get(registry)
    if (ep === undefined) {
      const plain =
        this.plainHttp === true ||
        (Array.isArray(this.plainHttp) && this.plainHttp.includes(registry)) ||
        this.insecure.has(registry) ||
        isLoopbackRegistry(registry)
      ep = new Endpoint(registry, new URL(`${plain ? "http" : "https"}://${registryHost(registry)}`), this.transport, this.auth)
      this.endpoints.set(registry, ep)
    }
    return ep
  }

  /** Where to fetch a reference, in order: its mirrors (by the registries configuration), then the upstream. */
  routes(ref: Reference, byDigest: boolean): Reference[] {
    return routesFor(this.registries, ref, byDigest).map((r) => r.ref)
  }

  // ---- manifests (manifests.ts; a PUT with a subject goes through referrers.ts) ----------

  /**
   * GETs a manifest by tag or digest, reading at most `manifestLimit` bytes, and checks its digest
   * from the exact bytes against the reference's digest and against Docker-Content-Digest.
   */
  getManifest(reference: RepositoryRef, options: { signal?: AbortSignal; accept?: readonly string[] } = {}): Promise<FetchedManifest> {
    return manifests.getManifest(this, reference, options)
  }

  /** HEAD of a manifest: its digest, size and type, or undefined when the registry has none. */
  headManifest(reference: RepositoryRef, options: { signal?: AbortSignal } = {}) {
    return manifests.headManifest(this, reference, options)
  }

  /** Resolves a reference to one image manifest (an index is narrowed to the platform, host by default). */
  resolve(reference: RepositoryRef, options: { platform?: PlatformLike | string; signal?: AbortSignal } = {}): Promise<ResolvedImage> {
    return manifests.resolve(this, reference, options)
  }

  /** PUTs a manifest under a tag or a digest; returns the digest of the bytes (see referrers.putManifest). */
  putManifest(reference: RepositoryRef, manifest: { bytes: Uint8Array; mediaType: string }, options: { signal?: AbortSignal } = {}): Promise<Digest> {
    return referrers.putManifest(this, reference, manifest, options)
  }

  // ---- blobs (blobPull.ts, blobPush.ts) --------------------------------------------------

  /** HEAD of a blob: its size, or undefined when the repository does not have it. */
  statBlob(reference: RepositoryRef, digest: Digest, options: { signal?: AbortSignal } = {}): Promise<{ size: number } | undefined> {
    return blobPull.statBlob(this, reference, digest, options)
  }

  /** GETs a blob as a stream (from `offset` with a Range request); `offset` in the result is where the body starts. */
  openBlob(reference: RepositoryRef, desc: BlobDescriptor, options: { offset?: number; signal?: AbortSignal } = {}): Promise<{ body: Readable; offset: number; response: HttpResponse }> {
    return blobPull.openBlob(this, reference, desc, options)
  }

  /** Pulls one blob into a sink, resuming after a cut; a bad blob never becomes visible. */
  pullBlob(reference: RepositoryRef, desc: BlobDescriptor, sink: BlobSink, options: PullBlobOptions = {}): Promise<PullBlobResult> {
    return blobPull.pullBlob(this, reference, desc, sink, options)
  }

  /** Pushes one blob: nothing when present, a cross-repository mount when possible, else an upload. */
  pushBlob(reference: RepositoryRef, desc: BlobDescriptor, open: () => Promise<AsyncIterable<Uint8Array>>, options: PushBlobOptions = {}): Promise<PushBlobResult> {
    return blobPush.pushBlob(this, reference, desc, open, options)
  }

  // ---- tags and referrers (tags.ts, referrers.ts) ----------------------------------------

  /** All tags of a repository, following Link pagination. */
  listTags(reference: RepositoryRef, options: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    return tags.listTags(this, reference, options)
  }

  /** The referrers of a manifest, from the referrers API or the fallback tag. Always an OCI index. */
  referrers(reference: RepositoryRef, digest: Digest, options: { artifactType?: string; signal?: AbortSignal } = {}): Promise<ImageIndex> {
    return referrers.referrers(this, reference, digest, options)
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
