// /v2/<name>/blobs/<digest>: GET/HEAD with ranges, and the verified put every blob push ends in.
import { rawResponse } from "../responses.js"
import { createReadStream } from "node:fs"
import type { IncomingMessage } from "node:http"
import { type Digest, digestAlgorithm, DigestMismatchError, SizeMismatchError } from "@cairn/digest"
import { HttpServerResponse } from "effect/http"
import { contentLength, limitedBody } from "../body.js"
import { BodyTooLargeError, DistributionError } from "../errors.js"
import { parseBlobDigest } from "../names.js"
import { parseRange } from "../range.js"
import type { RegistryStore } from "../registryStore.js"
import { type DistributionOptions, digestHeaders, type PushLeases, type V2Request } from "./context.js"

/** The distribution-spec error for a failed blob upload (digest, size or length limit). */
export const uploadFailure = (e: unknown, digest: Digest): unknown => {
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

export class Blobs {
  constructor(
    private readonly store: RegistryStore,
    private readonly options: DistributionOptions,
    private readonly leases: PushLeases
  ) {}

  async get(name: string, digestText: string, r: V2Request, head: boolean) {
    const digest = parseBlobDigest(digestText)
    if (!digest) throw new DistributionError({ status: 400, code: "DIGEST_INVALID", reason: "not a digest this registry supports", detail: { digest: digestText } })
    const unknown = new DistributionError({ status: 404, code: "BLOB_UNKNOWN", reason: `blob unknown: ${digest}`, detail: { digest } })
    const s = await this.store.stat(digest)
    if (!s) throw unknown
    // HEAD is how a pusher asks whether it may skip an upload: if it skips, the blob must still
    // be here when its manifest arrives, so it is held just like an uploaded one
    if (head && this.options.holdOnHead !== false) {
      await this.leases.hold(name, digest)
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
    return rawResponse(stream, { status, headers })
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
      await this.leases.hold(name, digest)
      // the first writer's copy is what GC must keep: it may have gone between stat and hold
      if (await this.store.has(digest)) return
    }
    const staged = await this.store.stage(data, { algorithm: digestAlgorithm(digest), ...(size === undefined ? {} : { size }) })
    try {
      if (staged.digest !== digest) throw new DigestMismatchError({ expected: digest, actual: staged.digest, bytes: staged.size })
      await this.leases.hold(name, digest)
    } catch (e) {
      await staged.discard()
      throw e
    }
    await staged.commit()
  }

  /** Store a whole blob from a request body: verified by the store before it becomes visible. */
  async putBody(name: string, digest: Digest, req: IncomingMessage): Promise<void> {
    try {
      await this.putVerified(name, digest, contentLength(req), limitedBody(req, this.options.maxBlobBytes))
    } catch (e) {
      throw uploadFailure(e, digest)
    }
  }
}
