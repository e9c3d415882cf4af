// /v2/<name>/blobs/uploads/: the push protocol (POST with ?digest= or ?mount=, PATCH chunks, the
// closing PUT) over the upload sessions of ../uploads.ts; every path ends in Blobs.putVerified.
import type { Digest } from "@cairn/digest"
import { HttpServerResponse } from "effect/http"
import { contentLength, limitedBody } from "../body.js"
import { DistributionError } from "../errors.js"
import { parseBlobDigest } from "../names.js"
import { parseContentRange } from "../range.js"
import type { RegistryStore } from "../registryStore.js"
import type { UploadSession, UploadSessions } from "../uploads.js"
import { type Blobs, uploadFailure } from "./blobs.js"
import { type DistributionOptions, digestHeaders, type PushLeases, type V2Request } from "./context.js"

const requireDigest = (text: string | null): Digest => {
  const d = text === null ? undefined : parseBlobDigest(text)
  if (!d) throw new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: "a valid ?digest= is required", detail: { digest: text } })
  return d
}

const created = (name: string, digest: Digest) =>
  HttpServerResponse.empty({ status: 201, headers: { Location: `/v2/${name}/blobs/${digest}`, ...digestHeaders(digest), "Content-Length": "0" } })

export class Uploads {
  constructor(
    private readonly store: RegistryStore,
    private readonly sessions: UploadSessions,
    private readonly options: DistributionOptions,
    private readonly leases: PushLeases,
    private readonly blobs: Blobs
  ) {}

  session(id: string, name: string): Promise<UploadSession> {
    return this.sessions.get(id, name)
  }

  status(s: UploadSession, status: number) {
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

  async start(name: string, r: V2Request) {
    const mount = r.query.get("mount")
    if (mount !== null) {
      // one store behind every repository: a mount succeeds whenever the blob is here
      const d = parseBlobDigest(mount)
      if (d && (await this.store.has(d))) {
        await this.leases.hold(name, d)
        if (await this.store.has(d)) return created(name, d)
      }
    } else if (r.query.has("digest")) {
      const digest = requireDigest(r.query.get("digest"))
      await this.blobs.putBody(name, digest, r.req)
      return created(name, digest)
    }
    const s = await this.sessions.create(name)
    return this.status(s, 202)
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

  async patch(s: UploadSession, r: V2Request) {
    this.checkRange(s, r)
    try {
      await this.sessions.append(s, limitedBody(r.req, this.options.maxBlobBytes))
    } catch (e) {
      throw uploadFailure(e, "" as Digest)
    }
    return this.status(s, 202)
  }

  async finish(s: UploadSession, r: V2Request) {
    const digest = requireDigest(r.query.get("digest"))
    this.checkRange(s, r)
    const hasBody = (contentLength(r.req) ?? (r.req.headers["transfer-encoding"] ? 1 : 0)) > 0
    if (s.size === 0 && hasBody) {
      // whole blob in the closing PUT: stream it straight into the store
      try {
        await this.blobs.putBody(s.name, digest, r.req)
      } finally {
        await this.sessions.drop(s)
      }
      return created(s.name, digest)
    }
    try {
      await this.sessions.finish(s, hasBody ? limitedBody(r.req, this.options.maxBlobBytes) : undefined, (size, data) => this.blobs.putVerified(s.name, digest, size, data))
    } catch (e) {
      throw uploadFailure(e, digest)
    }
    return created(s.name, digest)
  }

  async cancel(s: UploadSession) {
    await this.sessions.drop(s)
    return HttpServerResponse.empty({ status: 204 })
  }
}
