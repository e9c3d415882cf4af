import * as Data from "effect/Data"

/** A string that is not a valid image reference (distribution-spec "Pulling manifests", name grammar). */
export class InvalidReferenceError extends Data.TaggedError("InvalidRegistryReferenceError")<{
  readonly input: string
  readonly reason: string
}> {
  override get message() {
    return `invalid image reference ${JSON.stringify(this.input)}: ${this.reason}`
  }
}

/**
 * The registry answered with a status cairn cannot proceed from. `code` and `detail` come from the
 * OCI error body (distribution-spec "Error Codes") when the registry sent one.
 */
export class RegistryError extends Data.TaggedError("RegistryError")<{
  readonly method: string
  readonly url: string
  readonly status: number
  readonly code?: string
  readonly detail?: string
}> {
  override get message() {
    const what = this.code === undefined ? "" : ` ${this.code}${this.detail ? `: ${this.detail}` : ""}`
    return `${this.method} ${this.url} failed with HTTP ${this.status}${what}`
  }
}

/** Authentication failed: no or wrong credentials, or the token service refused. */
export class AuthError extends Data.TaggedError("AuthError")<{
  readonly registry: string
  readonly reason: string
  readonly status?: number
}> {
  override get message() {
    return `authentication with ${this.registry} failed: ${this.reason}`
  }
}

/** A manifest larger than the limit (distribution-spec: registries SHOULD accept up to 4 MiB). */
export class ManifestTooLargeError extends Data.TaggedError("ManifestTooLargeError")<{
  readonly url: string
  readonly limit: number
  /** bytes announced (Content-Length) or received before giving up */
  readonly size: number
}> {
  override get message() {
    return `manifest at ${this.url} is larger than the ${this.limit}-byte limit (at least ${this.size} bytes)`
  }
}

/** The network failed (connection refused, reset, timeout) and retries were exhausted. */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly method: string
  readonly url: string
  readonly reason: string
  readonly attempts: number
}> {
  override get message() {
    return `${this.method} ${this.url}: ${this.reason} (after ${this.attempts} attempt${this.attempts === 1 ? "" : "s"})`
  }
}

/** The registry sent a manifest digest (Docker-Content-Digest) that is not the digest of the bytes it sent. */
export class ManifestDigestError extends Data.TaggedError("ManifestDigestError")<{
  readonly url: string
  readonly expected: string
  readonly actual: string
  readonly source: "reference" | "Docker-Content-Digest"
}> {
  override get message() {
    return `manifest at ${this.url} hashes to ${this.actual}, but the ${this.source} says ${this.expected}`
  }
}

/** A manifest of a media type cairn cannot pull (e.g. Docker schema 1). */
export class UnsupportedManifestError extends Data.TaggedError("UnsupportedManifestError")<{
  readonly url: string
  readonly mediaType: string
}> {
  override get message() {
    return `manifest at ${this.url} has unsupported media type ${JSON.stringify(this.mediaType)}; cairn reads OCI image manifests/indexes and Docker v2 schema 2 manifests/lists`
  }
}

/** The blob sink (the store) failed for a reason of its own while taking a blob. */
export class BlobSinkError extends Data.TaggedError("BlobSinkError")<{
  readonly digest: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `storing blob ${this.digest} failed: ${this.reason}`
  }
}

/** A blob the push needs is not in the blob source. */
export class BlobNotFoundError extends Data.TaggedError("RegistryBlobNotFoundError")<{
  readonly digest: string
}> {
  override get message() {
    return `blob ${this.digest} is not in the source`
  }
}

/** A blob response announced a Content-Length other than the bytes the descriptor (minus the range start) calls for. */
export class ContentLengthError extends Data.TaggedError("ContentLengthError")<{
  readonly url: string
  readonly digest: string
  readonly expected: number
  readonly announced: number
}> {
  override get message() {
    return `blob ${this.digest} from ${this.url}: Content-Length ${this.announced}, expected ${this.expected} bytes`
  }
}

/** The caller's onBlobComplete hook (e.g. layer extraction) failed; `cause` is what it threw. */
export class BlobCompleteHookError extends Data.TaggedError("BlobCompleteHookError")<{
  readonly digest: string
  readonly cause: unknown
}> {
  override get message() {
    return `onBlobComplete for ${this.digest} failed: ${(this.cause as Error)?.message ?? String(this.cause)}`
  }
}
