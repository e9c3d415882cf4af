// Referrers (distribution-spec "Listing Referrers"): the API, the fallback tag `<alg>-<hex>` when a
// registry has none, and its upkeep when a manifest with a subject is pushed to such a registry.
import { type Digest, digestAlgorithm, digestHex, parseDigest } from "@cairn/digest"
import { type Descriptor, decodeAnyManifest, type ImageIndex, OciMediaType } from "@cairn/oci-spec/lazy"
import { repositoryScope } from "./auth.js"
import { asRef, type ClientContext, nextLink, type RepositoryRef } from "./context.js"
import { registryError } from "./endpoint.js"
import { ManifestTooLargeError, RegistryError, UnsupportedManifestError } from "./errors.js"
import { getManifest, getManifestAt, putManifestBytes } from "./manifests.js"
import type { Reference } from "./reference.js"
import type { HttpResponse } from "./transport.js"

/** The referrers fallback tag (distribution-spec "Referrers Tag Schema"): `<alg>-<hex>`, truncated to 128. */
export const referrersTag = (digest: Digest): string => `${digestAlgorithm(digest)}-${digestHex(digest)}`.slice(0, 128)

/**
 * PUTs a manifest (see putManifestBytes). distribution-spec "Pushing Manifests with Subject":
 * without OCI-Subject in the answer the registry has no referrers API, and the client maintains
 * the fallback tag itself.
 */
export async function putManifest(
  ctx: ClientContext,
  reference: RepositoryRef,
  manifest: { bytes: Uint8Array; mediaType: string },
  options: { signal?: AbortSignal } = {}
): Promise<Digest> {
  const ref = asRef(reference)
  const { digest, referrersApi } = await putManifestBytes(ctx, ref, manifest, options)
  const subject = subjectOf(manifest.bytes)
  if (subject !== undefined && !referrersApi) {
    await addReferrerByTag(ctx, ref, subject.subject, {
      mediaType: manifest.mediaType,
      digest,
      size: manifest.bytes.length,
      ...(subject.artifactType === undefined ? {} : { artifactType: subject.artifactType }),
      ...(subject.annotations === undefined ? {} : { annotations: subject.annotations })
    }, options.signal)
  }
  return digest
}

/**
 * The referrers of a manifest (distribution-spec "Listing Referrers"); when the registry has no
 * referrers API (404), the fallback tag `<alg>-<hex>` is read instead. Always an OCI index.
 */
export async function referrers(ctx: ClientContext, reference: RepositoryRef, digest: Digest, options: { artifactType?: string; signal?: AbortSignal } = {}): Promise<ImageIndex> {
  const ref = asRef(reference)
  const ep = ctx.endpoint(ref.registry)
  const scopes = [repositoryScope(ref.repository, "pull")]
  const filter = (ms: readonly Descriptor[]) => (options.artifactType === undefined ? ms : ms.filter((m) => m.artifactType === options.artifactType))
  const q = options.artifactType === undefined ? "" : `?artifactType=${encodeURIComponent(options.artifactType)}`
  let path: string | undefined = `/v2/${ref.repository}/referrers/${digest}${q}`
  const manifests: Descriptor[] = []
  for (let page = 0; path !== undefined; page++) {
    const res: HttpResponse = await ep.send({ method: "GET", path, headers: { accept: OciMediaType.ImageIndex }, scopes, signal: options.signal })
    if (res.status === 404 && page === 0) {
      res.discard()
      return referrersByTag(ctx, ref, digest, filter, options.signal)
    }
    if (res.status !== 200) throw await registryError("GET", res)
    const bytes = await res.bytes(ctx.manifestLimit, (n) => new ManifestTooLargeError({ url: res.url.href, limit: ctx.manifestLimit, size: n }))
    const doc = await decodeAnyManifest(bytes, OciMediaType.ImageIndex)
    if (doc.kind !== "index") throw new UnsupportedManifestError({ url: res.url.href, mediaType: doc.kind })
    manifests.push(...doc.value.manifests)
    // the filter is a MAY for registries: apply it here unless the registry says it did
    path = nextLink(res.header("link"), res.url)
  }
  return { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: filter(manifests) }
}

async function referrersByTag(ctx: ClientContext, ref: Reference, digest: Digest, filter: (ms: readonly Descriptor[]) => readonly Descriptor[], signal?: AbortSignal): Promise<ImageIndex> {
  try {
    const got = await getManifest(ctx, { ...ref, tag: referrersTag(digest) }, { accept: [OciMediaType.ImageIndex], ...(signal ? { signal } : {}) })
    const doc = got.document
    const manifests = doc.kind === "index" ? doc.value.manifests : []
    return { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: filter(manifests) }
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) return { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: [] }
    throw e
  }
}

async function addReferrerByTag(ctx: ClientContext, ref: Reference, subject: Digest, desc: Descriptor, signal?: AbortSignal): Promise<void> {
  const tagRef: Reference = { registry: ref.registry, repository: ref.repository, tag: referrersTag(subject) }
  let manifests: Descriptor[] = []
  try {
    const got = await getManifestAt(ctx, tagRef, { accept: [OciMediaType.ImageIndex], ...(signal ? { signal } : {}) })
    if (got.document.kind === "index") manifests = [...got.document.value.manifests]
  } catch (e) {
    if (!(e instanceof RegistryError && e.status === 404)) throw e
  }
  if (manifests.some((m) => m.digest === desc.digest)) return
  manifests.push(desc)
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests }))
  await putManifest(ctx, tagRef, { bytes, mediaType: OciMediaType.ImageIndex }, signal ? { signal } : {})
}

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
