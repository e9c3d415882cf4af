// The one retry policy of the client: how many attempts, how long to wait between them, and which
// failures are worth another attempt. The transport (per request), manifest reads (a body cut
// mid-way), blob pulls (resume after a cut) and blob pushes (a new upload session) all use it.
import { setTimeout as sleep } from "node:timers/promises"
import { RegistryError, TransportError } from "./errors.js"

export interface RetryPolicy {
  /** total attempts per request, including the first (default 5) */
  readonly attempts: number
  /** first backoff; doubled each time, with jitter (default 250 ms) */
  readonly baseDelayMs: number
  /** cap on one wait, also on a Retry-After the server asks for (default 30 s) */
  readonly maxDelayMs: number
}

export const defaultRetry: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 30_000 }

// statuses worth another attempt: server-side hiccups and throttling (RFC 9110 15.6, RFC 6585 4)
const retryableStatuses = new Set([429, 500, 502, 503, 504])

/** An HTTP status worth another attempt (5xx hiccups and 429). */
export const isRetryableStatus = (status: number): boolean => retryableStatuses.has(status)

/** Seconds or an HTTP-date (RFC 9110 10.2.3), in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : Math.max(0, t - now)
}

/**
 * The wait before attempt `attempt + 1`: exponential backoff from `baseDelayMs`, with jitter when
 * asked, or the server's Retry-After; never more than `maxDelayMs`.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, options: { jitter?: boolean; retryAfterMs?: number | undefined } = {}): number {
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  const planned = options.jitter ? backoff * (0.5 + Math.random() / 2) : backoff
  return Math.min(policy.maxDelayMs, options.retryAfterMs ?? planned)
}

/** Sleeps for `ms`, ending early (with the signal's reason) when the signal aborts. */
export const waitRetry = (ms: number, signal?: AbortSignal): Promise<void> => sleep(ms, undefined, signal ? { signal } : undefined)

/** A dropped connection (or a transport that gave up on one): the operation may be resumed or repeated. */
export const isNetworkCut = (e: unknown): boolean => {
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

// distribution-spec error codes after which an upload session is not worth continuing
const uploadRestartCodes = new Set(["BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "SIZE_INVALID"])

/** A failed upload worth a new session: the network, a retryable status, or a session the registry gave up on. */
export const isRetryableUploadFailure = (e: unknown): boolean =>
  e instanceof TransportError ||
  (e instanceof RegistryError && (isRetryableStatus(e.status) || e.status >= 500 || uploadRestartCodes.has(e.code ?? "")))
