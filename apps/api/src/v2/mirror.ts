// The pull-through cache (`cairn-api --mirror UPSTREAM`): a /v2 GET for a manifest or blob the
// store lacks is fetched from the upstream registry with @cairn/registry's client, verified,
// stored and served. A cold blob streams to its clients while it is written to the store
// (the last chunk is held back until the blob is verified and stored, so a mismatch aborts the
// response and stores nothing); requests for a blob already in flight join that one fetch's stream
// (fanout.ts) or, for a range, wait for it. Tags are
// revalidated after `ttlMs`, digests never; when the upstream is unreachable, cached content is
// served with `X-Cairn-Mirror: stale` and a Warning header, anything else gets a 502 naming the
// upstream. Mirrored content is held by leases (never by tags, so local tags stay the user's) and
// evicted least-recently-used through the store's GC when over `maxBytes`.
import { rawResponse } from "../responses.js"
import { createHash } from "node:crypto"
import { PassThrough, type Readable } from "node:stream"
import { type Digest, digestAlgorithm, digestHex } from "@cairn/digest"
import { RegistryClient, type RegistryClientOptions } from "@cairn/registry"
import { HttpServerResponse } from "effect/http"
import { DistributionError } from "../errors.js"
import { parseReference } from "../names.js"
import type { RegistryStore } from "../registryStore.js"
import { digestHeaders } from "./context.js"
import { Fanout, writeWithBackpressure } from "./fanout.js"

export interface MirrorOptions {
  /** upstream registries (`host:port`), tried in order */
  readonly upstreams: readonly string[]
  /** how long a tag's manifest is served before it is asked for again (default 5 min) */
  readonly ttlMs?: number
  /** bound on the mirrored bytes; least recently used content beyond it is evicted */
  readonly maxBytes?: number
  /** relay pushes to the first upstream instead of refusing them */
  readonly forwardPush?: boolean
  /** options of the upstream client (credentials default to the auth file, per host) */
  readonly client?: RegistryClientOptions
}

const HOLD_MS = 100 * 365 * 24 * 3_600_000
const STALE = { "X-Cairn-Mirror": "stale", Warning: '110 - "Response is stale"' }

const mirrorLeaseId = (d: Digest) => `api-mirror-${digestAlgorithm(d)}-${digestHex(d)}`

interface TagEntry {
  digest: Digest
  mediaType: string
  fetchedAt: number
}

interface Flight {
  readonly done: Promise<void>
  readonly size: number
  readonly fanout: Fanout
}

const upstreamDown = (upstreams: readonly string[], what: string, e: unknown) =>
  new DistributionError({
    status: 502,
    code: "UNKNOWN",
    reason: `${what} is not cached and the upstream (${upstreams.join(", ")}) could not be reached: ${(e as Error)?.message ?? String(e)}`,
    detail: { upstreams }
  })

/** A definite answer from the upstream (404 and the like), as opposed to the upstream being unreachable. */
const definite = (e: unknown): number | undefined => {
  const s = (e as { status?: unknown }).status
  return typeof s === "number" && s >= 400 && s < 500 ? s : undefined
}

export class Mirror {
  readonly client: RegistryClient
  readonly ttlMs: number
  private readonly tags = new Map<string, TagEntry>()
  private readonly flights = new Map<string, Flight>()
  // mirrored digests, least recently used first (Map keeps insertion order; a use re-inserts)
  private readonly used = new Map<Digest, number>()
  private usedBytes = 0
  private evicting: Promise<void> | undefined
  /** upstream requests made, by kind (for tests and the benchmark) */
  readonly counts = { manifests: 0, blobs: 0, blobBytes: 0 }

  constructor(
    private readonly store: RegistryStore,
    readonly options: MirrorOptions,
    private readonly maxManifestBytes: number
  ) {
    if (options.upstreams.length === 0) throw new Error("a mirror needs at least one upstream")
    // few, short retries: a client of the mirror retries too, and an outage should fall back to the cache quickly
    this.client = new RegistryClient({ transport: { retry: { attempts: 2, baseDelayMs: 100 } }, ...options.client })
    this.ttlMs = options.ttlMs ?? 300_000
  }

  private touch(digest: Digest, size: number) {
    if (this.used.has(digest)) this.used.delete(digest)
    else this.usedBytes += size
    this.used.set(digest, size)
  }

  /** Note a use of a mirrored digest (keeps it from eviction for longer). */
  used_(digest: Digest) {
    const size = this.used.get(digest)
    if (size !== undefined) this.touch(digest, size)
  }

  private async keep(digest: Digest, size: number) {
    await this.store.createLease({ id: mirrorLeaseId(digest), ttlMs: HOLD_MS, digests: [digest] })
    this.touch(digest, size)
    if (this.options.maxBytes !== undefined && this.usedBytes > this.options.maxBytes) {
      // one eviction at a time; the request that went over the bound finishes after it
      this.evicting ??= this.evict().finally(() => {
        this.evicting = undefined
      })
      await this.evicting
    }
  }

  /** Release the leases of the least recently used content until under the bound, then GC. */
  async evict(): Promise<void> {
    const max = this.options.maxBytes ?? Number.POSITIVE_INFINITY
    for (const [digest, size] of this.used) {
      if (this.usedBytes <= max) break
      if (this.flights.has(digest)) continue
      this.used.delete(digest)
      this.usedBytes -= size
      await this.store.releaseLease(mirrorLeaseId(digest)).catch(() => undefined)
      for (const [k, t] of this.tags) if (t.digest === digest) this.tags.delete(k)
    }
    // a locally tagged image is an index root: GC keeps it whatever the mirror released
    await this.store.gc()
  }

  private async eachUpstream<T>(f: (upstream: string) => Promise<T>): Promise<T> {
    let last: unknown
    for (const u of this.options.upstreams) {
      try {
        return await f(u)
      } catch (e) {
        last = e
        if (definite(e) !== undefined && u === this.options.upstreams.at(-1)) throw e
      }
    }
    throw last
  }

  /**
   * The manifest for `name:ref` from the cache or the upstream; undefined when the local store
   * should answer as usual (a digest it has).
   */
  async manifest(name: string, ref: string, head: boolean): Promise<HttpServerResponse.HttpServerResponse | undefined> {
    const parsed = parseReference(ref)
    if (!parsed) return undefined
    if (parsed.kind === "digest") {
      if (await this.store.has(parsed.digest)) {
        this.used_(parsed.digest)
        return undefined
      }
      const fetched = await this.fetchManifest(name, `@${parsed.digest}`).catch((e) => {
        if (definite(e) !== undefined) return undefined
        throw upstreamDown(this.options.upstreams, `manifest ${name}@${parsed.digest}`, e)
      })
      if (!fetched) return undefined
      return this.respond(fetched.digest, fetched.mediaType, fetched.bytes, head)
    }
    const key = `${name}:${parsed.tag}`
    const cached = this.tags.get(key)
    if (cached && Date.now() - cached.fetchedAt < this.ttlMs && (await this.store.has(cached.digest))) {
      this.used_(cached.digest)
      return this.respond(cached.digest, cached.mediaType, undefined, head)
    }
    try {
      const fetched = await this.fetchManifest(name, `:${parsed.tag}`)
      this.tags.set(key, { digest: fetched.digest, mediaType: fetched.mediaType, fetchedAt: Date.now() })
      return this.respond(fetched.digest, fetched.mediaType, fetched.bytes, head)
    } catch (e) {
      if (definite(e) !== undefined) {
        // the upstream says it has no such tag: a local one may still answer
        this.tags.delete(key)
        return undefined
      }
      if (cached && (await this.store.has(cached.digest))) return this.respond(cached.digest, cached.mediaType, undefined, head, STALE)
      throw upstreamDown(this.options.upstreams, `manifest ${name}:${parsed.tag}`, e)
    }
  }

  private async fetchManifest(name: string, target: string) {
    return this.eachUpstream(async (u) => {
      this.counts.manifests++
      const m = await this.client.getManifest(`${u}/${name}${target}`)
      // the client checked the bytes against the digest (by reference or Docker-Content-Digest)
      if (!(await this.store.has(m.digest))) await this.store.put({ digest: m.digest, size: m.size }, m.bytes)
      await this.keep(m.digest, m.size)
      return m
    })
  }

  private async respond(digest: Digest, mediaType: string, bytes: Uint8Array | undefined, head: boolean, extra: Record<string, string> = {}) {
    const body = bytes ?? (await this.store.read(digest, this.maxManifestBytes))
    const headers = { ...digestHeaders(digest), ...extra }
    if (head) return HttpServerResponse.empty({ status: 200, headers: { ...headers, "Content-Type": mediaType, "Content-Length": String(body.length) } })
    return HttpServerResponse.uint8Array(body, { status: 200, headers, contentType: mediaType })
  }

  /**
   * A blob the store lacks: fetched once from the upstream however many ask. Returns a streaming
   * response for the request that started the fetch (when it wants the whole blob), or undefined
   * once the blob is in the store (the caller serves it from there).
   */
  async blob(name: string, digest: Digest, head: boolean, ranged: boolean): Promise<HttpServerResponse.HttpServerResponse | undefined> {
    const inFlight = this.flights.get(digest)
    if (inFlight) return this.follow(inFlight, digest, head, ranged)
    let size: number
    let upstream: string
    try {
      ;[upstream, size] = await this.eachUpstream(async (u) => {
        const s = await this.client.statBlob(`${u}/${name}`, digest)
        if (!s) throw Object.assign(new Error(`blob ${digest} is not in ${u}/${name}`), { status: 404 })
        return [u, s.size] as const
      })
    } catch (e) {
      if (definite(e) !== undefined) return undefined // the store's own 404
      throw upstreamDown(this.options.upstreams, `blob ${digest}`, e)
    }
    if (head) return HttpServerResponse.empty({ status: 200, headers: { ...digestHeaders(digest), "Content-Length": String(size), "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream" } })
    // another request may have started the same fetch while this one asked for the size
    const raced = this.flights.get(digest)
    if (raced) return this.follow(raced, digest, head, ranged)
    let settle!: (e?: unknown) => void
    const done = new Promise<void>((resolve, reject) => {
      settle = (e) => (e === undefined ? resolve() : reject(e))
    })
    done.catch(() => undefined)
    const flight: Flight = { done, size, fanout: new Fanout() }
    this.flights.set(digest, flight)
    const response = this.follow(flight, digest, head, ranged)
    this.pump(upstream, name, digest, size, flight.fanout).then(
      () => settle(),
      (e) => settle(upstreamDown([upstream], `blob ${digest}`, e))
    ).finally(() => this.flights.delete(digest))
    return response
  }

  /**
   * A request for a blob in flight: the whole blob streams from the one fetch (joined late, it
   * starts with the bytes already sent); a range, or a join past the replay bound, waits until the
   * blob is stored and is then served from the store (undefined).
   */
  private async follow(flight: Flight, digest: Digest, head: boolean, ranged: boolean): Promise<HttpServerResponse.HttpServerResponse | undefined> {
    const stream = head || ranged ? undefined : flight.fanout.join()
    if (stream === undefined) {
      await flight.done
      return undefined
    }
    return rawResponse(stream, {
      status: 200,
      headers: { ...digestHeaders(digest), "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", "Content-Length": String(flight.size) }
    })
  }

  /** Upstream → store (verified staging) and → every joined client, the last chunk held until the blob is stored. */
  private async pump(upstream: string, name: string, digest: Digest, size: number, clients: Fanout): Promise<void> {
    this.counts.blobs++
    const feed = new PassThrough({ highWaterMark: 1 << 20 })
    const staging = this.store.stage(feed, { algorithm: digestAlgorithm(digest), size })
    staging.catch(() => undefined)
    const hash = createHash(digestAlgorithm(digest))
    let body: Readable | undefined
    try {
      body = (await this.client.openBlob(`${upstream}/${name}`, { digest, size })).body
      let held: Buffer | undefined
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk)
        this.counts.blobBytes += chunk.length
        if (held) await Promise.all([writeWithBackpressure(feed, held), clients.write(held)])
        held = chunk
      }
      const actual = `${digestAlgorithm(digest)}:${hash.digest("hex")}`
      if (actual !== digest) throw new Error(`upstream ${upstream} sent bytes hashing to ${actual}, not ${digest}`)
      if (held) feed.write(held)
      feed.end()
      const staged = await staging
      if (staged.digest !== digest) {
        await staged.discard()
        throw new Error(`stored bytes hash to ${staged.digest}, not ${digest}`)
      }
      await this.store.createLease({ id: mirrorLeaseId(digest), ttlMs: HOLD_MS, digests: [digest] }).catch(async (e) => {
        await staged.discard()
        throw e
      })
      await staged.commit()
      await this.keep(digest, size)
      // the last chunk goes out once the blob is stored: a client that has it all can rely on the cache
      clients.end(held)
    } catch (e) {
      body?.destroy()
      feed.destroy(e as Error)
      await staging.then((s) => s.discard()).catch(() => undefined)
      // the client has all but the last chunk: cutting the connection tells it the blob is incomplete
      clients.destroy(e as Error)
      throw e
    }
  }
}
