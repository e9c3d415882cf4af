// What every /v2 handler shares: the store, the options, the request shape and the push leases.
import { createHash } from "node:crypto"
import type { IncomingMessage } from "node:http"
import { type Digest, digestAlgorithm, digestHex } from "@cairn/digest"
import type { RegistryStore } from "../registryStore.js"

export interface DistributionOptions {
  readonly maxManifestBytes: number
  readonly maxBlobBytes: number
  /** how long a pushed blob is held for the manifest that will reference it (default 1 hour) */
  readonly uploadGraceMs?: number
  /** hold a blob a HEAD request found (default true; false where nothing can push, e.g. read-only) */
  readonly holdOnHead?: boolean
}

export interface V2Request {
  readonly method: string
  /** the raw path, not decoded: `%2e%2e` stays as it came */
  readonly path: string
  readonly query: URLSearchParams
  readonly req: IncomingMessage
}

export const digestHeaders = (digest: Digest) => ({ "Docker-Content-Digest": digest, ETag: `"${digest}"` })

/**
 * The lease that holds a blob or untagged manifest pushed to repository `name` until a manifest of
 * that repository references it. Per repository: two pushes of the same layer to different
 * repositories must not end each other's hold.
 */
export const pushLeaseId = (name: string, d: Digest): string =>
  `api-push-${createHash("sha256").update(name).digest("hex").slice(0, 16)}-${digestAlgorithm(d)}-${digestHex(d)}`

/** Push leases this process took, with their expiry (a restart forgets them; they then expire). */
export class PushLeases {
  private readonly held = new Map<string, number>()

  constructor(
    private readonly store: RegistryStore,
    private readonly graceMs: number
  ) {}

  /** Hold `digest` from GC for the upload grace period (renewed by every push of it). */
  async hold(name: string, digest: Digest): Promise<void> {
    const id = pushLeaseId(name, digest)
    const lease = await this.store.createLease({ id, ttlMs: this.graceMs, digests: [digest] })
    this.held.set(id, lease.expiresAt)
    // HEADs without a push after them would otherwise grow this for the life of the process
    if (this.held.size > 10_000) {
      const now = Date.now()
      for (const [k, expires] of this.held) if (expires <= now) this.held.delete(k)
    }
  }

  async release(name: string, digest: Digest): Promise<void> {
    const id = pushLeaseId(name, digest)
    if (!this.held.delete(id)) return
    await this.store.releaseLease(id)
  }
}
