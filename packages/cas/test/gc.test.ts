import { readdirSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it, vi } from "vitest"
import { BlobNotFoundError, GraphCycleError, GraphDepthError, INGEST_GRACE_MS, Store } from "../src/index.js"
import { putImage, putIndex, sha } from "./imageFixture.js"
import { tempDir } from "./tempLayout.js"

describe("graph walk", () => {
  it("visits index -> manifest -> config and layers once each", async () => {
    const store = await Store.open(tempDir())
    const a = await putImage(store, 2)
    const b = await putImage(store, 1)
    const idx = await putIndex(store, [a.manifest, b.manifest, a.manifest])
    const r = await store.walk([idx])
    expect(r.nodes.map((n) => n.descriptor.digest).sort()).toEqual([idx.digest, ...a.blobs, ...b.blobs].sort())
    const layer = r.nodes.find((n) => n.descriptor.digest === a.blobs[2])
    expect(layer?.chain).toEqual([idx.digest, a.manifest.digest, a.blobs[2]])
  })

  it("names the digest chain when a referenced blob is missing", async () => {
    const store = await Store.open(tempDir())
    const a = await putImage(store, 1)
    await store.delete(a.blobs[2]!)
    const e = await store.walk([a.manifest]).catch((x) => x)
    expect(e).toBeInstanceOf(BlobNotFoundError)
    expect(e.chain).toEqual([a.manifest.digest])
    expect(e.message).toContain(a.manifest.digest)
  })

  it("stops at an index that refers to itself", async () => {
    const store = await Store.open(tempDir())
    // a hash fixed point is impossible, so plant the bytes under a digest they do not hash to,
    // as a corrupt or hostile layout would
    const fake = sha("placeholder")
    const bytes = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: fake, size: 0 }]
    })
    writeFileSync(store.layout.blobPath(fake), bytes)
    const root = { mediaType: "application/vnd.oci.image.index.v1+json", digest: fake, size: bytes.length }
    const e = await store.walk([root]).catch((x) => x)
    expect(e).toBeInstanceOf(GraphCycleError)
    expect(e.chain).toEqual([fake, fake])
  })

  it("stops at a nesting deeper than allowed", async () => {
    const store = await Store.open(tempDir())
    let d = (await putImage(store, 1)).manifest
    for (let i = 0; i < 5; i++) d = await putIndex(store, [d])
    await expect(store.walk([d], { maxDepth: 4 })).rejects.toBeInstanceOf(GraphDepthError)
    expect((await store.walk([d], { maxDepth: 8 })).nodes.length).toBe(8)
  })
})

describe("gc", () => {
  it("removes unreferenced blobs, keeps tagged and leased graphs, and dry-runs first", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const kept = await putImage(store)
    const leased = await putImage(store)
    const garbage = await putImage(store, 3, 5000)
    await store.tag("keep", kept.manifest)
    const lease = await store.createLease({ digests: [leased.manifest.digest] })
    const dry = await store.gc({ dryRun: true })
    expect(dry.removed.map((b) => b.digest).sort()).toEqual([...garbage.blobs].sort())
    expect(dry.bytes).toBe(dry.removed.reduce((n, b) => n + b.size, 0))
    expect(dry.bytes).toBeGreaterThan(15000)
    for (const d of garbage.blobs) expect(await store.has(d)).toBe(true)
    const real = await store.gc()
    expect(real.removed.length).toBe(garbage.blobs.length)
    for (const d of garbage.blobs) expect(await store.has(d)).toBe(false)
    for (const d of [...kept.blobs, ...leased.blobs]) expect(await store.has(d)).toBe(true)
    expect((await store.fsck()).ok).toBe(true)
    await store.releaseLease(lease.id)
    await store.gc()
    for (const d of leased.blobs) expect(await store.has(d)).toBe(false)
  })

  it("ignores and removes expired leases", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const img = await putImage(store, 1)
    const lease = await store.createLease({ digests: [img.manifest.digest], ttlMs: -1 })
    const r = await store.gc()
    expect(r.expiredLeases).toEqual([lease.id])
    expect(await store.has(img.manifest.digest)).toBe(false)
    expect(readdirSync(store.layout.leasesDir)).toEqual([])
  })

  it("does not take a blob whose put in progress holds it under a lease", async () => {
    const store = await Store.open(tempDir())
    const lease = await store.createLease()
    const data = Buffer.from("work in progress")
    const r = await store.put(data, { lease: lease.id })
    await store.gc()
    expect(await store.has(r.digest)).toBe(true)
  })

  it("never removes a blob or partial whose ingest is in progress", async () => {
    const store = await Store.open(tempDir())
    const data = Buffer.alloc(200_000, 7)
    const digest = sha(data)
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    async function* slow() {
      yield data.subarray(0, 100_000)
      await gate
      yield data.subarray(100_000)
    }
    const putting = store.put({ digest, size: data.length }, slow())
    // the first 100,000 bytes are in the ingest file (the gate holds the rest)
    await vi.waitFor(async () => expect(await store.ingestOffset(digest)).toBe(100_000), { timeout: 10_000, interval: 10 })
    // another writer lands the same bytes (unreferenced) while the first ingest still runs
    await store.put(data)
    const r = await store.gc({ ingestMaxAgeMs: 0 })
    expect(r.removed).toEqual([])
    expect(r.removedIngests).toEqual([])
    expect(await store.has(digest)).toBe(true)
    expect(await store.ingestOffset(digest)).toBe(100_000)
    release()
    expect((await putting).created).toBe(false)
  })
})

describe("fsck", () => {
  it("reports corrupt, missing, mis-sized blobs, dangling tags and orphans, and quarantines", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const a = await putImage(store, 2)
    const b = await putImage(store, 1)
    const orphan = await store.put("orphan")
    await store.tag("a", a.manifest)
    await store.tag("b", b.manifest)
    expect((await store.fsck()).ok).toBe(true)
    writeFileSync(store.layout.blobPath(a.blobs[2]!), "tampered") // corrupt + wrong size
    await store.delete(a.blobs[3]!) // missing layer
    await store.delete(b.manifest.digest) // dangling tag
    const r = await store.fsck()
    expect(r.ok).toBe(false)
    expect(r.corrupt.map((c) => c.digest)).toEqual([a.blobs[2]])
    expect(r.missing).toEqual([{ digest: a.blobs[3], chain: [a.manifest.digest, a.blobs[3]] }])
    expect(r.sizeMismatches.map((s) => s.digest)).toEqual([a.blobs[2]])
    expect(r.danglingTags).toEqual([{ name: "b", digest: b.manifest.digest }])
    expect(r.orphans.map((o) => o.digest).sort()).toEqual([orphan.digest, ...b.blobs.slice(1)].sort())
    const q = await store.fsck({ quarantine: true })
    expect(q.corrupt[0]?.quarantinedTo).toBeDefined()
    expect(await store.has(a.blobs[2]!)).toBe(false)
    expect(readdirSync(store.layout.quarantineDir)).toHaveLength(1)
  })
})

describe("partial ingests left by killed or aborted writers", () => {
  it("gc reclaims a stale one by default, fsck lists it first; a live writer's partial survives", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    // a killed pull: partial bytes of a digest, no live writer, untouched past the grace period
    const left = Buffer.alloc(300_000, 3)
    const leftDigest = sha(left)
    await expect(store.put({ digest: leftDigest, size: left.length }, (async function* () {
      yield left.subarray(0, 120_000)
      throw new Error("connection reset")
    })())).rejects.toThrow(/connection reset/)
    expect(await store.ingestOffset(leftDigest)).toBe(120_000)
    const old = new Date(Date.now() - INGEST_GRACE_MS - 60_000)
    const ingestDir = join(dir, "ingest")
    for (const n of readdirSync(ingestDir)) utimesSync(join(ingestDir, n), old, old)
    // a live writer of another digest, equally old on disk
    const busy = Buffer.alloc(200_000, 4)
    const busyDigest = sha(busy)
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let half!: () => void
    const halfWritten = new Promise<void>((r) => {
      half = r
    })
    const putting = store.put({ digest: busyDigest, size: busy.length }, (async function* () {
      yield busy.subarray(0, 100_000)
      half()
      await gate
      yield busy.subarray(100_000)
    })())
    await halfWritten
    await expect.poll(() => store.ingestOffset(busyDigest)).toBe(100_000)
    const busyPath = join(ingestDir, `sha256-${busyDigest.slice(7)}`)
    utimesSync(busyPath, old, old)

    const report = await store.fsck()
    expect(report.ok).toBe(true)
    expect(report.staleIngests).toEqual([expect.objectContaining({ digest: leftDigest, size: 120_000 })])
    const dry = await store.gc({ dryRun: true })
    expect(dry.ingestBytes).toBe(120_000)
    expect(await store.ingestOffset(leftDigest)).toBe(120_000)

    const r = await store.gc()
    expect(r.removedIngests).toEqual([join(ingestDir, `sha256-${leftDigest.slice(7)}`)])
    expect(r.ingestBytes).toBe(120_000)
    expect(await store.ingestOffset(leftDigest)).toBe(0)
    expect(readdirSync(ingestDir).filter((n) => n.includes(leftDigest.slice(7)))).toEqual([])
    expect(await store.ingestOffset(busyDigest)).toBe(100_000)
    release()
    expect((await putting).created).toBe(true)
    expect(await store.has(busyDigest)).toBe(true)
    expect((await store.fsck()).staleIngests).toEqual([])
  })

  it("a fresh partial (inside the grace period) is kept for resume; Infinity keeps every one", async () => {
    const dir = tempDir()
    const store = await Store.open(dir)
    const data = Buffer.alloc(100_000, 5)
    const digest = sha(data)
    await expect(store.put({ digest, size: data.length }, (async function* () {
      yield data.subarray(0, 50_000)
      throw new Error("cut")
    })())).rejects.toThrow(/cut/)
    expect((await store.gc()).removedIngests).toEqual([])
    expect(await store.ingestOffset(digest)).toBe(50_000)
    const old = new Date(Date.now() - INGEST_GRACE_MS - 60_000)
    for (const n of readdirSync(join(dir, "ingest"))) utimesSync(join(dir, "ingest", n), old, old)
    expect((await store.gc({ ingestMaxAgeMs: Number.POSITIVE_INFINITY })).removedIngests).toEqual([])
    expect((await store.gc()).removedIngests).toHaveLength(1)
  })
})
