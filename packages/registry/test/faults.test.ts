
import { DigestMismatchError, giveBack, isLent } from "@cairn/digest"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  ContentLengthError,
  ManifestDigestError,
  ManifestTooLargeError,
  pullImage,
  pushImage,
  RegistryClient,
  RegistryError,
  staticCredentials,
  TransportError
} from "../src/index.js"
import type { BlobSink } from "../src/index.js"
import { DirSink } from "./support/dirSink.js"
import { type FaultProxy, startBlobStore, startFaultProxy } from "./support/faultProxy.js"
import { makeImage, randomFile, type TestImage } from "./support/image.js"
import { haveHtpasswd, haveRegistry, type RunningRegistry, startRegistry } from "./support/registryServer.js"
import { tempDirs } from "./support/tempDirs.js"

const tempDir = tempDirs("cairn-fault-test-")

const fastRetry = { retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 2_000 } }

// blob GETs of 1 MiB and more go over bulkGet by default: 0 sends every blob GET there, Infinity
// every one through node:http
const blobGets: Array<[string, number]> = [
  ["bulkGet", 0],
  ["node:http", Number.POSITIVE_INFINITY]
]

describe.skipIf(!haveRegistry).each(blobGets)("faults between client and registry (blob GETs over %s)", (_path, bulkMinBytes) => {
  let reg: RunningRegistry
  let proxy: FaultProxy
  let img: TestImage
  const retries: Array<{ reason: string; delayMs: number }> = []
  let client: RegistryClient
  const repo = () => `${proxy.host}/faults/app`
  const layer = () => img.layers[0]!
  const isLayerGet = (r: { method: string; path: string }) => r.method === "GET" && r.path.endsWith(`/blobs/${layer().digest}`)
  const layerGets = () => proxy.seen.filter(isLayerGet)

  beforeAll(async () => {
    reg = await startRegistry()
    img = makeImage([{ "data.bin": randomFile(3_000_000) }])
    const direct = new RegistryClient({ credentials: staticCredentials({}) })
    await pushImage(direct, img.source, img.manifest.digest, `${reg.host}/faults/app:1`)
    direct.close()
    proxy = await startFaultProxy(reg.host)
    client = new RegistryClient({
      credentials: staticCredentials({}),
      transport: { ...fastRetry, bulkMinBytes, onRetry: (r) => retries.push({ reason: r.reason, delayMs: r.delayMs }) }
    })
  })
  afterAll(async () => {
    client?.close()
    await proxy?.close()
    await reg?.stop()
  })
  const fresh = () => {
    proxy.seen.length = 0
    retries.length = 0
    proxy.rule = () => undefined
  }

  it("lends a big blob's chunks only to a sink that accepts lent chunks, and then gets them back", async () => {
    fresh()
    for (const acceptsLent of [false, true]) {
      const dir = new DirSink(tempDir())
      const seen = { lent: 0, plain: 0 }
      // a sink that gives back what it gets once it has copied it, if it said it would
      const sink: BlobSink = {
        has: (d) => dir.has(d),
        put: (desc, data) =>
          dir.put(
            desc,
            (async function* () {
              for await (const c of data) {
                if (isLent(c)) seen.lent++
                else seen.plain++
                const own = Buffer.from(c)
                giveBack(c)
                yield own
              }
            })()
          ),
        ...(acceptsLent ? { acceptsLent } : {})
      }
      await pullImage(client, `${repo()}:1`, sink)
      expect(dir.read(layer().digest).equals(img.source.blobs.get(layer().digest)!)).toBe(true)
      // over node:http nothing is lent; over bulkGet, to the sink that accepts it, every chunk of
      // the config and the layer (how many depends on the socket's reads) and only the manifest,
      // put from the bytes the client read whole, is its own
      if (acceptsLent && bulkMinBytes === 0) expect(seen).toEqual({ lent: expect.toSatisfy((n: number) => n >= 2), plain: 1 })
      else expect(seen.lent).toBe(0)
      expect(seen.lent + seen.plain).toBeGreaterThan(0)
    }
  })

  it("resumes a blob cut mid-transfer with Range, fetching the bytes past the cut once", async () => {
    fresh()
    const cut = 1_000_000
    proxy.rule = (r) => (isLayerGet(r) && layerGets().length === 1 ? { kind: "cut", after: cut } : undefined)
    const sink = new DirSink(tempDir())
    const r = await pullImage(client, `${repo()}:1`, sink)
    expect(sink.read(layer().digest).equals(img.source.blobs.get(layer().digest)!)).toBe(true)
    const [first, second] = layerGets()
    expect(layerGets()).toHaveLength(2)
    expect(first!.sent).toBe(cut)
    const start = Number(/^bytes=(\d+)-$/.exec(String(second!.headers.range))?.[1])
    // the resume starts where the sink's ingest ended: at most the cut, less only by what was in flight
    expect(start).toBeLessThanOrEqual(cut)
    expect(start).toBeGreaterThan(cut - 64 * 1024)
    expect(second!.sent).toBe(layer().size - start)
    expect(sink.resumes).toEqual([{ digest: layer().digest, offset: start }])
    expect(r.blobs.find((b) => b.descriptor.digest === layer().digest)?.resumedFrom).toBe(0)
  })

  it("starts the blob over when the registry ignores the Range header", async () => {
    fresh()
    proxy.rule = (r) => {
      if (!isLayerGet(r)) return undefined
      return layerGets().length === 1 ? { kind: "cut", after: 500_000 } : { kind: "dropRange" }
    }
    const sink = new DirSink(tempDir())
    await pullImage(client, `${repo()}:1`, sink)
    expect(sink.read(layer().digest).equals(img.source.blobs.get(layer().digest)!)).toBe(true)
    expect(sink.resumes).toEqual([])
    expect(sink.puts.filter((d) => d === layer().digest)).toHaveLength(2)
  })

  it("restarts a cut blob from byte 0 for a sink that cannot resume", async () => {
    fresh()
    proxy.rule = (r) => (isLayerGet(r) && layerGets().length === 1 ? { kind: "cut", after: 800_000 } : undefined)
    const inner = new DirSink(tempDir())
    const putOnly: BlobSink = { has: (d) => inner.has(d), put: (desc, data) => inner.put(desc, data) }
    await pullImage(client, `${repo()}:1`, putOnly)
    expect(inner.read(layer().digest).equals(img.source.blobs.get(layer().digest)!)).toBe(true)
    expect(layerGets().map((g) => g.headers.range)).toEqual([undefined, undefined])
    expect(layerGets()[1]!.sent).toBe(layer().size)
  })

  it("retries 500s and a 429, waiting as long as Retry-After says", async () => {
    fresh()
    let manifest500 = 0
    let blob429 = 0
    proxy.rule = (r) => {
      if (r.path.includes("/manifests/") && manifest500 < 2) {
        manifest500++
        return { kind: "status", status: 500 }
      }
      if (isLayerGet(r) && blob429 < 1) {
        blob429++
        return { kind: "status", status: 429, headers: { "retry-after": "1" } }
      }
      return undefined
    }
    const sink = new DirSink(tempDir())
    const r = await pullImage(client, `${repo()}:1`, sink)
    expect(r.digest).toBe(img.manifest.digest)
    expect(retries.map((x) => x.reason).sort()).toEqual(["HTTP 429", "HTTP 500", "HTTP 500"])
    expect(retries.find((x) => x.reason === "HTTP 429")?.delayMs).toBe(1000)
  })

  it("fails with RegistryError after the last attempt when the registry keeps answering 503", async () => {
    fresh()
    proxy.rule = (r) => (r.path.includes("/manifests/") ? { kind: "status", status: 503 } : undefined)
    const e = await client.getManifest(`${repo()}:1`).catch((x) => x)
    expect(e).toBeInstanceOf(RegistryError)
    expect(e).toMatchObject({ status: 503, code: "UNAVAILABLE" })
    expect(proxy.seen).toHaveLength(4)
  })

  it("retries a connection reset before any response, then reports TransportError", async () => {
    fresh()
    proxy.rule = (_r, i) => (i === 0 ? { kind: "reset" } : undefined)
    expect((await client.getManifest(`${repo()}:1`)).digest).toBe(img.manifest.digest)
    fresh()
    proxy.rule = () => ({ kind: "reset" })
    const e = await client.getManifest(`${repo()}:1`).catch((x) => x)
    expect(e).toBeInstanceOf(TransportError)
    expect(e.attempts).toBe(4)
  })

  it("does not trust a lying Content-Length: retried, then ContentLengthError, nothing stored", async () => {
    fresh()
    proxy.rule = (r) => (isLayerGet(r) && layerGets().length === 1 ? { kind: "contentLength", value: layer().size + 100 } : undefined)
    const ok = new DirSink(tempDir())
    await pullImage(client, `${repo()}:1`, ok)
    expect(ok.read(layer().digest).equals(img.source.blobs.get(layer().digest)!)).toBe(true)

    fresh()
    proxy.rule = (r) => (isLayerGet(r) ? { kind: "contentLength", value: layer().size + 100 } : undefined)
    const sink = new DirSink(tempDir())
    const e = await pullImage(client, `${repo()}:1`, sink).catch((x) => x)
    expect(e).toBeInstanceOf(ContentLengthError)
    expect(e).toMatchObject({ expected: layer().size, announced: layer().size + 100 })
    expect(await sink.has(layer().digest)).toBe(false)
    expect(await sink.has(img.manifest.digest)).toBe(false)
  })

  it("rejects a manifest whose Docker-Content-Digest does not match its bytes", async () => {
    fresh()
    const lie = `sha256:${"0".repeat(64)}`
    proxy.rule = (r) => (r.path.includes("/manifests/") ? { kind: "header", name: "docker-content-digest", value: lie } : undefined)
    const sink = new DirSink(tempDir())
    const e = await pullImage(client, `${repo()}:1`, sink).catch((x) => x)
    expect(e).toBeInstanceOf(ManifestDigestError)
    expect(e).toMatchObject({ expected: lie, actual: img.manifest.digest, source: "Docker-Content-Digest" })
    expect(sink.list()).toEqual([])
  })

  it("never lets a blob whose bytes do not match its digest into the sink, even a trusting one", async () => {
    for (const verify of [true, false]) {
      fresh()
      proxy.rule = (r) => (isLayerGet(r) ? { kind: "corrupt", at: 1234 } : undefined)
      const sink = new DirSink(tempDir())
      sink.verify = verify
      const e = await pullImage(client, `${repo()}:1`, sink).catch((x) => x)
      expect(e).toBeInstanceOf(DigestMismatchError)
      expect(e.expected).toBe(layer().digest)
      expect(await sink.has(layer().digest)).toBe(false)
      expect(await sink.has(img.manifest.digest)).toBe(false)
      // the next clean pull recovers though the bad bytes sat in the sink's ingest area: this client
      // remembers not to resume onto them; a new one (another process) resumes, the verifying sink
      // refuses the result, and the client starts that blob over from byte 0
      fresh()
      const again = verify ? new RegistryClient({ credentials: staticCredentials({}), transport: { ...fastRetry, bulkMinBytes } }) : client
      await pullImage(again, `${repo()}:1`, sink)
      if (again !== client) again.close()
      expect(sink.read(layer().digest).equals(img.source.blobs.get(layer().digest)!)).toBe(true)
      if (verify) {
        // the resume started wherever the bad ingest ended (all of it, or less what was in flight)
        expect(sink.resumes).toHaveLength(1)
        expect(sink.resumes[0]!.offset).toBeGreaterThan(0)
        expect(sink.resumes[0]!.offset).toBeLessThanOrEqual(layer().size)
      }
      else expect(sink.resumes).toEqual([])
    }
  })

  it("restarts an upload cut midway in a new session, monolithic or chunked", async () => {
    for (const chunkSize of [undefined, 256 * 1024]) {
      fresh()
      const blob = makeImage([{ "up.bin": randomFile(1_500_000) }])
      const l = blob.layers[0]!
      let cut = false
      const target = chunkSize === undefined ? "PUT" : "PATCH"
      proxy.rule = (r) => {
        if (cut || r.method !== target || !r.path.includes("/blobs/uploads/")) return undefined
        cut = true
        return { kind: "cutRequest", after: chunkSize === undefined ? 700_000 : 100_000 }
      }
      const r = await client.pushBlob(`${proxy.host}/faults/upload`, l, () => blob.source.open(l.digest), chunkSize ? { chunkSize } : {})
      expect(r.how).toBe("uploaded")
      expect(cut).toBe(true)
      expect(proxy.seen.filter((x) => x.method === "POST" && x.path.includes("/blobs/uploads/"))).toHaveLength(2)
      const sink = new DirSink(tempDir())
      await client.pullBlob(`${reg.host}/faults/upload`, l, sink)
      expect(sink.read(l.digest).equals(blob.source.blobs.get(l.digest)!)).toBe(true)
    }
  })

  it("fails only after every other blob's sink write has stopped", async () => {
    fresh()
    const two = makeImage([{ "big.bin": randomFile(3_000_000) }, { "small.bin": randomFile(100_000) }])
    const direct = new RegistryClient({ credentials: staticCredentials({}) })
    await pushImage(direct, two.source, two.manifest.digest, `${reg.host}/faults/two:1`)
    direct.close()
    const [big, bad] = [two.layers[0]!, two.layers[1]!]
    // the big layer's registry sends 64 KiB and then holds the rest until the pull has failed (or,
    // should the pull wait for the held blob instead of stopping it, 20 s have passed): its sink
    // write is in progress when the small layer's check fails, whatever the machine's load
    let release!: () => void
    const released = new Promise<void>((r) => {
      release = r
      setTimeout(r, 20_000).unref()
    })
    proxy.rule = (r) => {
      if (r.method !== "GET") return undefined
      if (r.path.endsWith(bad.digest)) return { kind: "corrupt", at: 5 }
      if (r.path.endsWith(big.digest)) return { kind: "hold", after: 64 * 1024, until: released }
      return undefined
    }
    const inner = new DirSink(tempDir())
    let active = 0
    const counting: BlobSink = {
      has: (d) => inner.has(d),
      ingestOffset: (d) => inner.ingestOffset(d),
      resume: (desc, offset, data) => inner.resume(desc, offset, data),
      async put(desc, data) {
        active++
        try {
          return await inner.put(desc, data)
        } finally {
          active--
        }
      }
    }
    const e = await pullImage(client, `${repo().replace("/faults/app", "/faults/two")}:1`, counting)
      .catch((x) => x)
      .finally(release)
    expect(e).toBeInstanceOf(DigestMismatchError)
    expect(active).toBe(0)
    expect(await inner.has(big.digest)).toBe(false)
  })

  it("fails with ManifestTooLargeError over 4 MiB, announced or streamed", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)
    for (const headers of [{ "content-type": "application/vnd.oci.image.manifest.v1+json", "content-length": String(big.length) }, { "content-type": "application/vnd.oci.image.manifest.v1+json" }]) {
      fresh()
      proxy.rule = (r) => (r.path.includes("/manifests/") ? { kind: "body", body: big, headers } : undefined)
      const e = await client.getManifest(`${repo()}:1`).catch((x) => x)
      expect(e).toBeInstanceOf(ManifestTooLargeError)
      expect(e.limit).toBe(4 * 1024 * 1024)
      expect(e.size).toBeGreaterThan(e.limit)
    }
  })
})

describe.skipIf(!haveRegistry)("parallel pulls", () => {
  let reg: RunningRegistry
  let proxy: FaultProxy
  beforeAll(async () => {
    reg = await startRegistry()
    proxy = await startFaultProxy(reg.host)
  })
  afterAll(async () => {
    await proxy?.close()
    await reg?.stop()
  })

  it("downloads at most `concurrency` blobs at once", async () => {
    const img = makeImage([{ a: randomFile(1000) }, { b: randomFile(1000) }, { c: randomFile(1000) }, { d: randomFile(1000) }, { e: randomFile(1000) }])
    const direct = new RegistryClient({ credentials: staticCredentials({}) })
    await pushImage(direct, img.source, img.manifest.digest, `${reg.host}/par/app:1`)
    direct.close()
    proxy.rule = (r) => (r.method === "GET" && r.path.includes("/blobs/") ? { kind: "delay", ms: 150 } : undefined)
    const client = new RegistryClient({ credentials: staticCredentials({}) })
    try {
      const sink = new DirSink(tempDir())
      await pullImage(client, `${proxy.host}/par/app:1`, sink, { concurrency: 2 })
      expect(proxy.inFlight.peak).toBeLessThanOrEqual(2)
      expect(proxy.inFlight.peak).toBeGreaterThan(1)
      for (const d of [img.config, ...img.layers]) expect(await sink.has(d.digest)).toBe(true)
    } finally {
      client.close()
    }
  })

  it("hands each blob to onBlobComplete as it lands, without holding a download slot for it", async () => {
    const img = makeImage([{ a: "1" }, { b: "2" }, { c: "3" }])
    const direct = new RegistryClient({ credentials: staticCredentials({}) })
    await pushImage(direct, img.source, img.manifest.digest, `${reg.host}/par/hook:1`)
    direct.close()
    proxy.rule = () => undefined
    const client = new RegistryClient({ credentials: staticCredentials({}) })
    // the first hook only returns once every blob is in: with one download slot that deadlocks
    // (and the gate's timeout fails the test) unless hooks run beside the downloads
    let open!: () => void
    const gate = new Promise<void>((resolve, reject) => {
      open = resolve
      setTimeout(() => reject(new Error("onBlobComplete held the only download slot")), 20_000).unref()
    })
    const done: string[] = []
    let calls = 0
    try {
      const sink = new DirSink(tempDir())
      await pullImage(client, `${proxy.host}/par/hook:1`, sink, {
        concurrency: 1,
        onBlobComplete: async (d) => {
          calls++
          if (calls === 4) open()
          if (calls === 1) await gate
          done.push(d.digest)
        }
      })
      expect(done).toHaveLength(4)
      expect(done.at(-1)).toBe(img.config.digest)
    } finally {
      client.close()
    }
  })

  it("fails the pull with BlobCompleteHookError when onBlobComplete throws", async () => {
    const client = new RegistryClient({ credentials: staticCredentials({}) })
    try {
      const e = await pullImage(client, `${proxy.host}/par/hook:1`, new DirSink(tempDir()), {
        onBlobComplete: () => {
          throw new Error("extract failed")
        }
      }).catch((x) => x)
      expect(e._tag).toBe("BlobCompleteHookError")
      expect(e.message).toMatch(/extract failed/)
    } finally {
      client.close()
    }
  })
})

describe.skipIf(!haveRegistry || !haveHtpasswd)("redirects", () => {
  let reg: RunningRegistry
  let proxy: FaultProxy
  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user: "u", password: "p" } })
    proxy = await startFaultProxy(reg.host)
  })
  afterAll(async () => {
    await proxy?.close()
    await reg?.stop()
  })

  it("follows a blob redirect to another host without the Authorization header", async () => {
    const creds = staticCredentials({ [reg.host]: { username: "u", password: "p" } })
    const img = makeImage([{ "r.bin": randomFile(50_000) }])
    const direct = new RegistryClient({ credentials: creds })
    await pushImage(direct, img.source, img.manifest.digest, `${reg.host}/redir/app:1`)
    direct.close()
    // 127.0.0.2 is another loopback host: a different origin, like object storage
    const store = await startBlobStore("127.0.0.2", img.source.blobs)
    const layer = img.layers[0]!
    proxy.rule = (r) => (r.method === "GET" && r.path.endsWith(`/blobs/${layer.digest}`) ? { kind: "redirect", location: `${store.origin}/blob/${layer.digest}` } : undefined)
    const client = new RegistryClient({ credentials: staticCredentials({ [proxy.host]: { username: "u", password: "p" } }), transport: fastRetry })
    try {
      const sink = new DirSink(tempDir())
      await pullImage(client, `${proxy.host}/redir/app:1`, sink)
      expect(sink.read(layer.digest).equals(img.source.blobs.get(layer.digest)!)).toBe(true)
      const redirected = proxy.seen.find((r) => r.path.endsWith(`/blobs/${layer.digest}`) && r.method === "GET")
      expect(redirected?.headers.authorization).toMatch(/^Basic /)
      expect(store.authorizations).toEqual([undefined])
    } finally {
      client.close()
      await store.close()
    }
  })
})
