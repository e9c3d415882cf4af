// HTTP on node:http/https: streaming both ways (a blob is never buffered), retries with backoff on
// 5xx / 429 / dropped connections, and redirects followed by hand so credentials never leak to
// another host (blob GETs are commonly redirected to object storage).
import { Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest } from "node:http"
import { readdirSync, readFileSync } from "node:fs"
import { Agent as HttpsAgent, request as httpsRequest } from "node:https"
import { join } from "node:path"
import { rootCertificates } from "node:tls"
import { Readable } from "node:stream"
import { bulkGet } from "./bulkGet.js"
import { TransportError } from "./errors.js"
import { defaultRetry, isRetryableStatus, parseRetryAfter, type RetryPolicy, retryDelay, waitRetry } from "./retry.js"

export { parseRetryAfter, type RetryPolicy } from "./retry.js"

/** A request body: bytes, or a factory called once per attempt so retries and redirects can resend. */
export type RequestBody = Uint8Array | (() => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>)

export interface HttpRequest {
  readonly method: string
  readonly url: string | URL
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: RequestBody
  /** Content-Length of a streamed body, when known */
  readonly bodyLength?: number
  readonly signal?: AbortSignal
  /** false: a single attempt, no retry on network errors, 5xx or 429 (default true) */
  readonly retry?: boolean
  /**
   * The size of the body the caller expects (a blob's). A GET of at least the transport's
   * `bulkMinBytes` is read over a connection of its own into pooled memory (bulkGet.ts) instead
   * of through node:http's keep-alive pool; its chunks are lent to the reader only with `lend`.
   */
  readonly expectBytes?: number
  /**
   * With a bulk GET: the body's chunks are lent (@cairn/digest `lend`) and their memory is read
   * into again once given back. Only for a reader that gives every chunk back and keeps none
   * after; otherwise each chunk is the reader's own.
   */
  readonly lend?: boolean
}

export interface HttpResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  /** the URL that answered, after redirects */
  readonly url: URL
  /** the body as a Node stream of Buffers: consume it, or call discard() */
  readonly body: Readable
  header(name: string): string | undefined
  /** the whole body, failing with `onTooLarge()` once more than `limit` bytes arrive */
  bytes(limit?: number, onTooLarge?: (size: number) => Error): Promise<Buffer>
  text(limit?: number): Promise<string>
  discard(): void
}

export interface TransportOptions {
  readonly retry?: Partial<RetryPolicy>
  /** socket inactivity limit before the attempt counts as failed (default 60 s) */
  readonly idleTimeoutMs?: number
  /** parallel connections per host (default 16) */
  readonly maxSockets?: number
  readonly userAgent?: string
  /**
   * containers-certs.d(5) directories: for a TLS request to HOST[:PORT], every `*.crt` file in
   * `DIR/HOST[:PORT]/` is a CA trusted besides the system's (a registry with a private CA).
   * Default: `/etc/containers/certs.d` then `/etc/docker/certs.d`, as podman and docker read them.
   */
  readonly certsDirs?: readonly string[]
  /** GETs expecting at least this many body bytes are read by bulkGet (default 1 MiB; Infinity: never) */
  readonly bulkMinBytes?: number
  /** called before each retry, e.g. for logs */
  readonly onRetry?: (info: { method: string; url: string; attempt: number; delayMs: number; reason: string }) => void
}

const maxRedirects = 10

export const DEFAULT_CERTS_DIRS: readonly string[] = ["/etc/containers/certs.d", "/etc/docker/certs.d"]

/** The CA certificates containers-certs.d(5) gives for `host` (HOST[:PORT]): every `*.crt` of `DIR/host/`, first directory that has any. */
export function certsFor(dirs: readonly string[], host: string): string[] {
  for (const dir of dirs) {
    const hostDir = join(dir, host)
    let names: string[]
    try {
      names = readdirSync(hostDir).filter((n) => n.endsWith(".crt")).sort()
    } catch {
      continue
    }
    if (names.length > 0) return names.map((n) => readFileSync(join(hostDir, n), "utf8"))
  }
  return []
}
const isRedirect = (s: number) => s === 301 || s === 302 || s === 303 || s === 307 || s === 308

class Response implements HttpResponse {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly url: URL,
    readonly body: Readable
  ) {}
  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()]
    return Array.isArray(v) ? v.join(", ") : v
  }
  async bytes(limit = Number.POSITIVE_INFINITY, onTooLarge?: (size: number) => Error): Promise<Buffer> {
    const chunks: Buffer[] = []
    let n = 0
    for await (const c of this.body as AsyncIterable<Buffer>) {
      n += c.length
      if (n > limit) {
        this.body.destroy()
        throw onTooLarge ? onTooLarge(n) : new Error(`response body larger than ${limit} bytes`)
      }
      chunks.push(c)
    }
    return Buffer.concat(chunks, n)
  }
  async text(limit = 1 << 20): Promise<string> {
    return (await this.bytes(limit)).toString("utf8")
  }
  discard(): void {
    // drain small bodies so the keep-alive socket can be reused; drop big ones
    const len = Number(this.header("content-length") ?? "NaN")
    if (Number.isFinite(len) && len <= 64 * 1024) this.body.resume()
    else this.body.destroy()
  }
}

const toReadable = (b: AsyncIterable<Uint8Array>): Readable => (b instanceof Readable ? b : Readable.from(b, { objectMode: false }))

/** One HTTP client per process or per registry client; holds keep-alive connection pools. */
export class Transport {
  readonly retry: RetryPolicy
  private readonly http: HttpAgent
  private readonly https: HttpsAgent
  private readonly certsDirs: readonly string[]
  private readonly hostAgents = new Map<string, HttpsAgent>()
  private readonly idleTimeoutMs: number
  private readonly bulkMinBytes: number
  private readonly userAgent: string
  private readonly onRetry: TransportOptions["onRetry"]

  constructor(options: TransportOptions = {}) {
    this.retry = { ...defaultRetry, ...options.retry }
    const maxSockets = options.maxSockets ?? 16
    this.http = new HttpAgent({ keepAlive: true, maxSockets })
    this.https = new HttpsAgent({ keepAlive: true, maxSockets })
    this.certsDirs = options.certsDirs ?? DEFAULT_CERTS_DIRS
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000
    this.bulkMinBytes = options.bulkMinBytes ?? 1 << 20
    this.userAgent = options.userAgent ?? "cairn-registry/0.1"
    this.onRetry = options.onRetry
  }

  /**
   * Sends a request, following redirects (Authorization is dropped when the host changes) and
   * retrying network failures, 5xx and 429 (honouring Retry-After). Resolves with the final
   * response of any other status; the caller decides what a 4xx means.
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const method = req.method.toUpperCase()
    const firstUrl = new URL(req.url)
    let lastReason = ""
    const attempts = req.retry === false ? 1 : this.retry.attempts
    for (let attempt = 1; ; attempt++) {
      let delay: number | undefined
      try {
        const res = await this.follow(method, firstUrl, req)
        if (!isRetryableStatus(res.status) || attempt >= attempts) return res
        lastReason = `HTTP ${res.status}`
        delay = parseRetryAfter(res.header("retry-after"))
        res.discard()
      } catch (e) {
        if (req.signal?.aborted) throw req.signal.reason ?? e
        lastReason = (e as NodeJS.ErrnoException).code ?? (e as Error).message
        if (attempt >= attempts) {
          throw new TransportError({ method, url: firstUrl.href, reason: lastReason, attempts: attempt })
        }
      }
      const wait = retryDelay(this.retry, attempt, { jitter: true, retryAfterMs: delay })
      this.onRetry?.({ method, url: firstUrl.href, attempt, delayMs: wait, reason: lastReason })
      await waitRetry(wait, req.signal)
    }
  }

  private async follow(method: string, first: URL, req: HttpRequest): Promise<HttpResponse> {
    let url = first
    let headers: Record<string, string> = { "user-agent": this.userAgent, ...lower(req.headers ?? {}) }
    let body = req.body
    for (let hop = 0; ; hop++) {
      const res =
        method === "GET" && body === undefined && req.expectBytes !== undefined && req.expectBytes >= this.bulkMinBytes
          ? await this.bulk(url, headers, req.signal, req.lend === true)
          : await this.once(method, url, headers, body, req.bodyLength, req.signal)
      if (!isRedirect(res.status) || hop >= maxRedirects) return res
      const location = res.header("location")
      if (location === undefined) return res
      res.discard()
      const next = new URL(location, url)
      // never hand a registry credential to whatever host a redirect names (e.g. S3, a CDN)
      if (next.host !== url.host || next.protocol !== url.protocol) {
        const { authorization: _, ...rest } = headers
        headers = rest
      }
      if (res.status === 303 && method !== "HEAD") {
        method = "GET"
        body = undefined
      }
      url = next
    }
  }

  private async once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: RequestBody | undefined,
    bodyLength: number | undefined,
    signal: AbortSignal | undefined
  ): Promise<HttpResponse> {
    const source = typeof body === "function" ? toReadable(await body()) : body
    const h = { ...headers }
    if (body instanceof Uint8Array) h["content-length"] = String(body.length)
    else if (source !== undefined && bodyLength !== undefined) h["content-length"] = String(bodyLength)
    else if (source === undefined && (method === "PUT" || method === "POST" || method === "PATCH")) h["content-length"] = "0"
    const secure = url.protocol === "https:"
    return new Promise<HttpResponse>((resolve, reject) => {
      signal?.throwIfAborted()
      const r = (secure ? httpsRequest : httpRequest)(url, {
        method,
        headers: h,
        agent: secure ? this.httpsAgent(url.host) : this.http
      })
      // the signal ends the request and its response body, each of which has an 'error' listener
      // here (Node's own `signal` option can leave the error on a stream nobody listens to yet)
      let res: IncomingMessage | undefined
      const onAbort = () => {
        const e = signal?.reason ?? new Error("the request was aborted")
        r.destroy(e)
        res?.destroy(e)
      }
      if (signal) {
        signal.addEventListener("abort", onAbort, { once: true })
        r.once("close", () => signal.removeEventListener("abort", onAbort))
      }
      r.setTimeout(this.idleTimeoutMs, () => r.destroy(Object.assign(new Error("socket idle timeout"), { code: "ETIMEDOUT" })))
      r.on("error", (e) => {
        if (source instanceof Readable) source.destroy()
        reject(e)
      })
      r.on("response", (got) => {
        res = got
        // an early answer (e.g. 401 to a PUT) ends the upload; the retry reopens the source
        if (source instanceof Readable && !source.readableEnded) {
          source.unpipe(r)
          source.destroy()
        }
        // the body may wait a while before its reader starts (the sink locks and opens its file):
        // an abort or a cut connection in that window must not be an uncaught 'error' event. The
        // reader still gets the failure, from the stream's errored state, when it starts.
        got.on("error", () => {})
        resolve(new Response(got.statusCode ?? 0, got.headers, url, got))
      })
      if (source === undefined) r.end()
      else if (source instanceof Uint8Array) r.end(source)
      else {
        source.on("error", (e) => r.destroy(e))
        source.pipe(r)
      }
    })
  }

  private async bulk(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, lend: boolean): Promise<HttpResponse> {
    const ca = url.protocol === "https:" ? this.httpsAgent(url.host).options.ca : undefined
    const res = await bulkGet(url, { headers, signal, lend, idleTimeoutMs: this.idleTimeoutMs, ...(ca === undefined ? {} : { ca }) })
    return new Response(res.status, res.headers, url, res.body)
  }

  /** The TLS agent for `host`: the shared one, or one that also trusts the host's certs.d CAs. */
  private httpsAgent(host: string): HttpsAgent {
    let agent = this.hostAgents.get(host)
    if (agent === undefined) {
      const cas = certsFor(this.certsDirs, host)
      agent = cas.length === 0 ? this.https : new HttpsAgent({ keepAlive: true, maxSockets: this.https.maxSockets, ca: [...rootCertificates, ...cas] })
      this.hostAgents.set(host, agent)
    }
    return agent
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.http.destroy()
    this.https.destroy()
    for (const a of this.hostAgents.values()) if (a !== this.https) a.destroy()
  }
}

const lower = (h: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))
