// Leases: roots for garbage collection that callers take while work is in progress (a pull that
// has stored layers but not yet its manifest, an import, a copy). One JSON file per lease under
// leases/, so every process sees them; each expires so a crashed caller cannot pin blobs forever.
// Callers of these functions hold the layout's gc lock, which serializes them with commits and GC.
import { randomBytes } from "node:crypto"
import { readdir, readFile, unlink } from "node:fs/promises"
import { join } from "node:path"
import { type Digest, parseDigest } from "@cairn/digest"
import { fsyncDir, writeFileAtomic } from "./atomicFile.js"
import { InvalidTagError, LeaseNotFoundError } from "./errors.js"
import type { Layout } from "./layout.js"

export interface Lease {
  readonly id: string
  /** milliseconds since the epoch */
  readonly expiresAt: number
  readonly digests: readonly Digest[]
}

export interface LeaseOptions {
  /** default: random */
  readonly id?: string
  /** time to live (default 1 hour) */
  readonly ttlMs?: number
  readonly digests?: readonly (Digest | string)[]
}

const leaseId = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

function leasePath(layout: Layout, id: string): string {
  if (!leaseId.test(id)) throw new InvalidTagError({ name: id, reason: "a lease id is 1-128 characters of [A-Za-z0-9._-], starting alphanumeric" })
  return join(layout.leasesDir, `${id}.json`)
}

async function readLease(path: string): Promise<Lease | undefined> {
  try {
    const json = JSON.parse(await readFile(path, "utf8")) as Lease
    if (typeof json.id !== "string" || typeof json.expiresAt !== "number" || !Array.isArray(json.digests)) return undefined
    return json
  } catch {
    // a missing file or one a crash truncated (not possible with atomic writes, but be lenient)
    return undefined
  }
}

async function writeLease(layout: Layout, lease: Lease): Promise<void> {
  await layout.ensureDir(layout.leasesDir)
  await writeFileAtomic(leasePath(layout, lease.id), `${JSON.stringify(lease)}\n`)
}

export async function createLease(layout: Layout, options: LeaseOptions = {}): Promise<Lease> {
  const lease: Lease = {
    id: options.id ?? `lease-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`,
    expiresAt: Date.now() + (options.ttlMs ?? 3_600_000),
    digests: [...new Set((options.digests ?? []).map((d) => parseDigest(d)))]
  }
  await writeLease(layout, lease)
  return lease
}

export async function getLease(layout: Layout, id: string): Promise<Lease> {
  const lease = await readLease(leasePath(layout, id))
  if (!lease || lease.expiresAt <= Date.now()) throw new LeaseNotFoundError({ id })
  return lease
}

export async function addToLease(layout: Layout, id: string, digests: readonly (Digest | string)[]): Promise<Lease> {
  const lease = await getLease(layout, id)
  const all = new Set<Digest>(lease.digests)
  for (const d of digests) all.add(parseDigest(d))
  const next = { ...lease, digests: [...all] }
  await writeLease(layout, next)
  return next
}

/** Extend a lease's life, e.g. while a long pull goes on. */
export async function renewLease(layout: Layout, id: string, ttlMs: number): Promise<Lease> {
  const lease = await getLease(layout, id)
  const next = { ...lease, expiresAt: Date.now() + ttlMs }
  await writeLease(layout, next)
  return next
}

export async function releaseLease(layout: Layout, id: string): Promise<boolean> {
  try {
    await unlink(leasePath(layout, id))
    await fsyncDir(layout.leasesDir)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false
    throw e
  }
}

/** Every lease file, live or expired. */
export async function listLeases(layout: Layout): Promise<{ live: Lease[]; expired: Lease[] }> {
  let names: string[]
  try {
    names = await readdir(layout.leasesDir)
  } catch {
    return { live: [], expired: [] }
  }
  const live: Lease[] = []
  const expired: Lease[] = []
  const now = Date.now()
  for (const name of names) {
    if (!name.endsWith(".json") || name.startsWith(".")) continue
    const lease = await readLease(join(layout.leasesDir, name))
    if (lease) (lease.expiresAt > now ? live : expired).push(lease)
  }
  return { live, expired }
}
