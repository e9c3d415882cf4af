// Errors the service answers with. Both carry the HTTP status and a machine code so one
// function turns them into a response; both are real Error instances.
import * as Data from "effect/Data"

/** Distribution-spec error codes (distribution-spec v1.1 "Error Codes"). */
export type DistributionCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "RANGE_INVALID"
  /** what the reference implementation answers for a server-side failure */
  | "UNKNOWN"

/** A /v2 failure, answered as `{"errors":[{"code","message","detail"}]}` with `status`. */
export class DistributionError extends Data.TaggedError("DistributionError")<{
  readonly status: number
  readonly code: DistributionCode
  readonly reason: string
  readonly detail?: unknown
  readonly headers?: Readonly<Record<string, string>>
}> {
  override get message() {
    return `${this.code}: ${this.reason}`
  }
}

/** A JSON API failure, answered as `{"error":{"code","message","detail"}}` with `status`. */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: number
  readonly code: string
  readonly reason: string
  readonly detail?: unknown
  readonly headers?: Readonly<Record<string, string>>
}> {
  override get message() {
    return `${this.code}: ${this.reason}`
  }
}

/** A request body beyond its limit (413), raised while streaming so nothing larger is read. */
export class BodyTooLargeError extends Data.TaggedError("BodyTooLargeError")<{ readonly limit: number; readonly received: number }> {
  override get message() {
    return `request body exceeds ${this.limit} bytes (got at least ${this.received})`
  }
}

/** A request body that stopped arriving: no byte for `idleMs` (408; the connection is closed). */
export class BodyStalledError extends Data.TaggedError("BodyStalledError")<{ readonly idleMs: number }> {
  override get message() {
    return `the request body stopped arriving (no data for ${this.idleMs} ms)`
  }
}
