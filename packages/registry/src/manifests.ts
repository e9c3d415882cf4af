// Manifests: GET (size-limited, digest-checked against the reference and Docker-Content-Digest),
// HEAD, resolution through an index to one platform, and PUT.
import { type Digest, DigestMismatchError, digestAlgorithm, digestBytes, parseDigest } from "@cairn/digest"
import {
  type AnyManifest,
  asOciIndex,
  DockerMediaType,
  decodeAnyManifest,
  dockerToOciManifest,
  type ImageManifest,
  OciMediaType,
  type PlatformLike,
  selectManifest
} from "@cairn/oci-spec/lazy"
import { repositoryScope } from "./auth.js"
import { asRef, type ClientContext, type RepositoryRef } from "./context.js"
import { registryError } from "./endpoint.js"
import { ManifestDigestError, ManifestTooLargeError, TransportError, UnsupportedManifestError } from "./errors.js"
import { type Reference, referenceTarget } from "./reference.js"
import { viaRoutes } from "./mirrors.js"
import { isNetworkCut } from "./retry.js"

const stripParams = (ct: string | undefined) => ct?.split(";")[0]?.trim()

/** distribution-spec "Pushing manifests": registries SHOULD accept manifests up to 4 MiB. */
export const DEFAULT_MANIFEST_LIMIT = 4 * 1024 * 1024

/** Every manifest type cairn reads, best first. */
export const MANIFEST_ACCEPT = [
  OciMediaType.ImageIndex,
  OciMediaType.ImageManifest,
  DockerMediaType.ManifestList,
  DockerMediaType.Manifest
] as const

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

/**
 * GETs a manifest by tag or digest, reading at most `manifestLimit` bytes, and checks its digest
 * from the exact bytes against the reference's digest and against Docker-Content-Digest.
 */
export async function getManifest(ctx: ClientContext, reference: RepositoryRef, options: { signal?: AbortSignal; accept?: readonly string[] } = {}): Promise<FetchedManifest> {
  const ref = asRef(reference)
  return viaRoutes(ctx, ref, ref.digest !== undefined, (r) => getManifestAt(ctx, r, options), { signal: options.signal })
}

/** getManifest at one place, without the registries configuration. */
export async function getManifestAt(ctx: ClientContext, ref: Reference, options: { signal?: AbortSignal; accept?: readonly string[] } = {}): Promise<FetchedManifest> {
  const ep = ctx.endpoint(ref.registry)
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
    if (announced > ctx.manifestLimit) {
      res.body.destroy()
      throw new ManifestTooLargeError({ url, limit: ctx.manifestLimit, size: announced })
    }
    let bytes: Buffer
    try {
      bytes = await res.bytes(ctx.manifestLimit, (n) => new ManifestTooLargeError({ url, limit: ctx.manifestLimit, size: n }))
    } catch (e) {
      // the connection dropped mid-body (or a lying Content-Length cut it short): ask again
      if (!isNetworkCut(e) || options.signal?.aborted) throw e
      if (attempt < ctx.retry.attempts) continue
      throw new TransportError({ method: "GET", url, reason: (e as Error).message, attempts: attempt })
    }
    return checkManifest(url, ref, bytes, stripParams(res.header("content-type")), res.header("docker-content-digest"))
  }
}

async function checkManifest(url: string, ref: Reference, bytes: Uint8Array, contentType: string | undefined, dcd: string | undefined) {
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
export async function headManifest(ctx: ClientContext, reference: RepositoryRef, options: { signal?: AbortSignal } = {}) {
  const ref = asRef(reference)
  return viaRoutes(ctx, ref, ref.digest !== undefined, (r) => headManifestAt(ctx, r, options), { signal: options.signal, missing: (h) => h === undefined })
}

/** headManifest at one place, without the registries configuration. */
export async function headManifestAt(ctx: ClientContext, ref: Reference, options: { signal?: AbortSignal } = {}) {
  const res = await ctx.endpoint(ref.registry).send({
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
export async function resolve(ctx: ClientContext, reference: RepositoryRef, options: { platform?: PlatformLike | string; signal?: AbortSignal } = {}): Promise<ResolvedImage> {
  const ref = asRef(reference)
  const root = await getManifest(ctx, ref, options.signal ? { signal: options.signal } : {})
  let manifest = root
  const index = asOciIndex(root.document)
  if (index !== undefined) {
    const chosen = selectManifest(index, options.platform)
    manifest = await getManifest(ctx, { ...ref, digest: chosen.digest }, options.signal ? { signal: options.signal } : {})
    if (manifest.size !== chosen.size) {
      throw new ManifestDigestError({ url: ctx.endpoint(ref.registry).url(`/v2/${ref.repository}/manifests/${chosen.digest}`).href, expected: `${chosen.size} bytes`, actual: `${manifest.size} bytes`, source: "reference" })
    }
  }
  const m = manifest.document
  if (m.kind !== "manifest" && m.kind !== "docker-manifest") {
    throw new UnsupportedManifestError({ url: ctx.endpoint(ref.registry).url(`/v2/${ref.repository}/manifests/${manifest.digest}`).href, mediaType: `${manifest.mediaType} inside an index` })
  }
  const image = m.kind === "manifest" ? m.value : dockerToOciManifest(m.value)
  return { reference: ref, root, manifest, image }
}

/**
 * PUTs a manifest under a tag or a digest (`reference.digest` wins); returns the digest of the bytes and
 * whether the registry answered with OCI-Subject (it has the referrers API).
 * The registry's Docker-Content-Digest, when sent, must agree.
 */
export async function putManifestBytes(ctx: ClientContext, reference: RepositoryRef, manifest: { bytes: Uint8Array; mediaType: string }, options: { signal?: AbortSignal } = {}): Promise<{ digest: Digest; referrersApi: boolean }> {
  const ref = asRef(reference)
  const digest = await digestBytes(manifest.bytes, ref.digest ? digestAlgorithm(ref.digest) : "sha256")
  if (ref.digest !== undefined && ref.digest !== digest) {
    throw new DigestMismatchError({ expected: ref.digest, actual: digest, bytes: manifest.bytes.length })
  }
  if (manifest.bytes.length > ctx.manifestLimit) {
    throw new ManifestTooLargeError({ url: `${ref.registry}/${ref.repository}`, limit: ctx.manifestLimit, size: manifest.bytes.length })
  }
  const res = await ctx.endpoint(ref.registry).send({
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
  return { digest, referrersApi: res.header("oci-subject") !== undefined }
}
