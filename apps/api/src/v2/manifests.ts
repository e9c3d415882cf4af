// /v2/<name>/manifests/<reference>: GET/HEAD by tag or digest, PUT (every referenced blob must be
// here), DELETE (drops tags; the bytes go at the next GC). Also the index.json and manifest-facts
// caches the listings share.
import { stat } from "node:fs/promises"
import { REF_NAME } from "@cairn/cas"
import { type Digest, digestAlgorithm, digestBytes } from "@cairn/digest"
import { type AnyManifest, type Descriptor, decodeAnyManifest, isAnyManifestMediaType, isIndexMediaType, mayBeAbsent, OciDecodeError, OciMediaType, sniffManifest } from "@cairn/oci-spec"
import { HttpServerResponse } from "effect/http"
import { readBody } from "../body.js"
import { BodyTooLargeError, DistributionError } from "../errors.js"
import { parseReference, refName, splitRefName } from "../names.js"
import type { RegistryStore } from "../registryStore.js"
import { type DistributionOptions, digestHeaders, type PushLeases, type V2Request } from "./context.js"

export interface ManifestFacts {
  readonly mediaType: string
  readonly size: number
  readonly artifactType?: string
  readonly subject?: Digest
  readonly annotations?: Readonly<Record<string, string>>
}

const badReference = (ref: string) =>
  new DistributionError({ status: 400, code: "MANIFEST_INVALID", reason: "reference is neither a tag nor a digest", detail: { reference: ref } })

const unknownManifest = (name: string, ref: string) =>
  new DistributionError({ status: 404, code: "MANIFEST_UNKNOWN", reason: `manifest unknown: ${name}:${ref}`, detail: { name, reference: ref } })

export class Manifests {
  // manifests are immutable by digest, so what we learnt of one stays true
  private readonly facts = new Map<string, ManifestFacts>()
  // index.json is replaced by rename on every change: same inode, size and mtime = same content
  private indexCache: { key: string; entries: readonly Descriptor[] } | undefined

  constructor(
    private readonly store: RegistryStore,
    private readonly options: DistributionOptions,
    private readonly leases: PushLeases
  ) {}

  /** index.json entries, re-read only when the file changed (HEAD by tag is the hot path). */
  async indexEntries(): Promise<readonly Descriptor[]> {
    const s = await stat(this.store.layout.indexPath, { bigint: true })
    const key = `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`
    if (this.indexCache?.key === key) return this.indexCache.entries
    const entries = await this.store.index()
    this.indexCache = { key, entries }
    return entries
  }

  async tagNames(): Promise<string[]> {
    return (await this.indexEntries()).map((d) => d.annotations?.[REF_NAME]).filter((n): n is string => n !== undefined)
  }

  async factsOf(digest: Digest): Promise<ManifestFacts | undefined> {
    const known = this.facts.get(digest)
    if (known) return known
    const s = await this.store.stat(digest)
    if (!s || s.size > this.options.maxManifestBytes) return undefined
    const sniffed = sniffManifest(await this.store.read(digest, this.options.maxManifestBytes))
    if (!sniffed) return undefined
    const { subject, ...rest } = sniffed
    const f: ManifestFacts = { ...rest, ...(subject !== undefined ? { subject: subject as Digest } : {}), size: s.size }
    if (this.facts.size > 50_000) this.facts.clear()
    this.facts.set(digest, f)
    return f
  }

  async resolve(name: string, ref: string): Promise<{ digest: Digest; mediaType: string; size: number }> {
    const parsed = parseReference(ref)
    if (!parsed) throw badReference(ref)
    if (parsed.kind === "tag") {
      const entry = (await this.indexEntries()).filter((d) => d.annotations?.[REF_NAME] === refName(name, parsed.tag)).at(-1)
      if (!entry) throw unknownManifest(name, ref)
      const s = await this.store.stat(entry.digest)
      if (!s) throw unknownManifest(name, ref)
      return { digest: entry.digest as Digest, mediaType: entry.mediaType, size: s.size }
    }
    const f = await this.factsOf(parsed.digest)
    if (!f) throw unknownManifest(name, ref)
    return { digest: parsed.digest, mediaType: f.mediaType, size: f.size }
  }

  async get(name: string, ref: string, head: boolean) {
    const { digest, mediaType, size } = await this.resolve(name, ref)
    const headers = { ...digestHeaders(digest), "Content-Type": mediaType, "Content-Length": String(size) }
    if (head) return HttpServerResponse.empty({ status: 200, headers })
    const bytes = await this.store.read(digest, this.options.maxManifestBytes)
    return HttpServerResponse.uint8Array(bytes, { status: 200, headers: digestHeaders(digest), contentType: mediaType })
  }

  async put(name: string, ref: string, r: V2Request) {
    const parsed = parseReference(ref)
    if (!parsed) throw badReference(ref)
    const bytes = await readBody(r.req, this.options.maxManifestBytes).catch((e) => {
      if (e instanceof BodyTooLargeError) {
        throw new DistributionError({ status: 413, code: "SIZE_INVALID", reason: `manifest larger than ${this.options.maxManifestBytes} bytes` })
      }
      throw e
    })
    const contentType = r.req.headers["content-type"]?.split(";")[0]?.trim()
    const knownType = contentType && isAnyManifestMediaType(contentType) ? contentType : undefined
    let doc: AnyManifest
    try {
      doc = await decodeAnyManifest(bytes, knownType)
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
    // `urls` exempts only a non-distributable (foreign) layer: a config or a child manifest must be here
    const needed: Array<readonly [string, Descriptor]> = [
      ...(v.config ? [["config", v.config] as const] : []),
      ...(v.layers ?? []).filter((d) => !mayBeAbsent(d)).map((d) => ["layer", d] as const),
      ...(v.manifests ?? []).map((d) => ["manifest", d] as const)
    ]
    for (const [role, d] of needed) {
      if (!(await this.store.has(d.digest))) {
        const urls = d.urls && d.urls.length > 0 ? ` (its urls do not exempt it: only non-distributable layers may be absent)` : ""
        throw new DistributionError({
          status: 400,
          code: "MANIFEST_BLOB_UNKNOWN",
          reason: `referenced ${role} ${d.digest} is not in this registry${urls}; push it first`,
          detail: { digest: d.digest }
        })
      }
    }
    const mediaType = (doc.value as { mediaType?: string }).mediaType ?? knownType ?? (doc.kind === "index" ? OciMediaType.ImageIndex : OciMediaType.ImageManifest)
    // held before it is visible: a manifest pushed by digest (an index's child) has no tag yet,
    // and a tagged one is unreferenced until the tag is written
    await this.leases.hold(name, digest)
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
    if (parsed.kind === "tag" || v.subject) await this.leases.release(name, digest)
    for (const d of [...(v.config ? [v.config] : []), ...(v.layers ?? []), ...(v.manifests ?? [])]) await this.leases.release(name, d.digest as Digest)
    return HttpServerResponse.empty({
      status: 201,
      headers: { Location: `/v2/${name}/manifests/${digest}`, ...digestHeaders(digest), ...(v.subject ? { "OCI-Subject": v.subject.digest } : {}) }
    })
  }

  async delete(name: string, ref: string) {
    const parsed = parseReference(ref)
    if (!parsed) throw badReference(ref)
    if (parsed.kind === "tag") {
      if (!(await this.store.untag(refName(name, parsed.tag)))) throw unknownManifest(name, ref)
      return HttpServerResponse.empty({ status: 202 })
    }
    // by digest: drop every tag of this repository naming it; the bytes go at the next GC
    const tags = (await this.store.tags()).filter((t) => t.descriptor.digest === parsed.digest && splitRefName(t.name)?.name === name)
    if (tags.length === 0) throw unknownManifest(name, ref)
    for (const t of tags) await this.store.untag(t.name)
    return HttpServerResponse.empty({ status: 202 })
  }
}
