// /v2/_catalog, /v2/<name>/tags/list (both paged with n/last and a Link header) and
// /v2/<name>/referrers/<digest>, all read from index.json and the manifests' facts.
import type { Digest } from "@cairn/digest"
import { type Descriptor, OciMediaType } from "@cairn/oci-spec"
import { HttpServerResponse } from "effect/http"
import { DistributionError } from "../errors.js"
import { parseBlobDigest, splitRefName } from "../names.js"
import type { V2Request } from "./context.js"
import type { Manifests } from "./manifests.js"

const paginate = (all: string[], r: V2Request, link: (n: number, last: string) => string) => {
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

export const tagsList = async (manifests: Manifests, name: string, r: V2Request) => {
  const tags = (await manifests.tagNames()).map(splitRefName).filter((t) => t?.name === name).map((t) => t!.tag)
  if (tags.length === 0) throw new DistributionError({ status: 404, code: "NAME_UNKNOWN", reason: `repository ${name} is not known to this registry`, detail: { name } })
  const { items, headers } = paginate(tags, r, (n, last) => `/v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(last)}`)
  return HttpServerResponse.jsonUnsafe({ name, tags: items }, { headers })
}

export const catalog = async (manifests: Manifests, r: V2Request) => {
  const names = (await manifests.tagNames()).map((t) => splitRefName(t)?.name).filter((n): n is string => n !== undefined)
  const { items, headers } = paginate(names, r, (n, last) => `/v2/_catalog?n=${n}&last=${encodeURIComponent(last)}`)
  return HttpServerResponse.jsonUnsafe({ repositories: items }, { headers })
}

export const referrers = async (manifests: Manifests, digestText: string, r: V2Request) => {
  const subject = parseBlobDigest(digestText)
  if (!subject) throw new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: "not a digest this registry supports", detail: { digest: digestText } })
  const filter = r.query.get("artifactType")
  const found: Descriptor[] = []
  const seen = new Set<string>()
  for (const d of await manifests.indexEntries()) {
    if (seen.has(d.digest)) continue
    seen.add(d.digest)
    const f = await manifests.factsOf(d.digest as Digest)
    if (!f || f.subject !== subject) continue
    if (filter !== null && f.artifactType !== filter) continue
    found.push({
      mediaType: f.mediaType,
      digest: d.digest,
      size: f.size,
      ...(f.artifactType ? { artifactType: f.artifactType } : {}),
      ...(f.annotations ? { annotations: f.annotations } : {})
    } as Descriptor)
  }
  const body = { schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: found }
  return HttpServerResponse.jsonUnsafe(body, {
    contentType: OciMediaType.ImageIndex,
    headers: filter !== null ? { "OCI-Filters-Applied": "artifactType" } : {}
  })
}
