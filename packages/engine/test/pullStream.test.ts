// Pull streams into extraction (issue #13): a layer is extracted while it downloads, its bytes
// teed to the store's verified put and to the extractor; a layer corrupted mid-stream leaves no
// blob, no snapshot and no partial directory; a pull SIGKILLed mid-download resumes (Range) and
// completes. Against Debian's docker-registry on 127.0.0.1, through loopback proxies.
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chainIds, giveBack, isLent, lend, parseDigest } from "@cairn/digest"
import { Engine } from "../src/index.js"
import { StreamingExtractor, tee } from "../src/pullExtract.js"
import { rawTar } from "../../overlay/test/rawtar.js"
import { startFaultProxy } from "../../registry/test/support/faultProxy.js"
import { buildForChildren, buildLayout, busyboxLayer, mountinfoLines, tempDir } from "./fixtures.js"
import { haveRegistry, startProxy, startRegistry } from "./registryServer.js"

if (!haveRegistry) console.warn("skipping streamed pulls: /usr/bin/docker-registry is missing (apt-get install docker-registry)")

// above OFF_THREAD_MIN_BYTES (16 MiB): the streamed layer goes through overlay's layer-reader thread
const BIG = 17 << 20
const STALL_AT = 2 << 20

/**
 * A loopback proxy that forwards everything, except that a GET matching `stall` gets its first
 * `after` body bytes and then nothing more (the connection stays open): `stalled` resolves then.
 * It records the Range header of every blob request.
 */
async function startStallProxy(target: string) {
  let signal!: () => void
  const state = {
    stall: undefined as { path: string; after: number } | undefined,
    stalled: new Promise<void>((r) => (signal = r)),
    ranges: [] as Array<{ path: string; range?: string }>
  }
  const proxy = await startProxy(target, (req, ures, res) => {
    if (req.url?.includes("/blobs/") === true) state.ranges.push({ path: req.url, ...(req.headers.range === undefined ? {} : { range: req.headers.range }) })
    const rule = state.stall !== undefined && req.method === "GET" && req.url?.endsWith(state.stall.path) === true ? state.stall : undefined
    if (rule === undefined) return false
    let sent = 0
    ures.on("data", (c: Buffer) => {
      if (sent >= rule.after) return
      const part = c.subarray(0, rule.after - sent)
      sent += part.length
      res.write(part)
      if (sent >= rule.after) {
        ures.destroy()
        signal()
      }
    })
    return true
  })
  return { host: proxy.host, state, close: proxy.close }
}

/**
 * A loopback proxy that holds back the body of the GET of blob `held` until the body of the GET
 * of blob `first` has been sent whole: `first`'s download starts, and ends, before `held` can be
 * extracted.
 */
async function startHoldProxy(target: string, held: string, first: string) {
  let sent!: () => void
  const firstSent = new Promise<void>((r) => (sent = r))
  return startProxy(target, (req, ures, res) => {
    if (req.method !== "GET") return false
    if (req.url?.endsWith(first) === true) ures.once("end", () => sent())
    if (req.url?.endsWith(held) !== true) return false
    void firstSent.then(() => ures.pipe(res))
    return true
  })
}

describe.skipIf(!haveRegistry)("pull streams each layer into its extraction", () => {
  let dir: string
  let registry: { host: string; stop: () => Promise<void> }
  let big: Buffer
  let layerDigests: ReadonlyArray<string>
  let diffIds: ReadonlyArray<string>
  beforeAll(async () => {
    dir = tempDir()
    registry = await startRegistry()
    big = randomBytes(BIG) // incompressible: the gzip blob is as big, and a cut lands mid-file
    const built = buildLayout(join(dir, "src"), "big", [{ ...busyboxLayer, files: { ...busyboxLayer.files, "data/big.bin": big } }, { files: { "etc/motd": "streamed\n" } }])
    layerDigests = built.layerDigests
    diffIds = built.diffIds
    const source = await Engine.open({ root: join(dir, "source") })
    await source.importImage(`oci:${join(dir, "src")}:big`, "big:1")
    await source.push("big:1", `${registry.host}/test/big:1`)
    await source.close()
  }, 120_000)
  afterAll(async () => {
    await registry.stop()
    expect(mountinfoLines(dir)).toEqual([])
    rmSync(dir, { recursive: true, force: true })
  })

  /** Nothing of `digest` in the root: no blob, no ingest, no snapshot of `chainHex`, no temp dir. */
  const nothingOf = (root: string, digest: string, chainHex: string) => {
    expect(existsSync(join(root, "blobs", "sha256", digest.slice(7)))).toBe(false)
    expect(readdirSync(join(root, "ingest")).filter((n) => n.includes(digest.slice(7)) && !n.endsWith(".lock"))).toEqual([])
    expect(existsSync(join(root, "snapshots", chainHex))).toBe(false)
    expect(readdirSync(join(root, "snapshots")).filter((n) => n.startsWith("."))).toEqual([])
  }

  it("extracts the bottom layer from the response bytes, never reading its blob back from the store", async () => {
    const engine = await Engine.open({ root: join(dir, "streamed") })
    const store = engine.service.context.store
    const opened: Array<string> = []
    const open = store.open.bind(store)
    ;(store as { open: typeof store.open }).open = (d) => {
      opened.push(d)
      return open(d)
    }
    const img = await engine.pull(`${registry.host}/test/big:1`, "big:1")
    expect((await engine.inspectImage(img.digest)).layers.every((l) => l.snapshot)).toBe(true)
    expect(opened).not.toContain(layerDigests[0])
    const c = await engine.createContainer("big:1")
    const mp = await engine.mountContainer(c.id)
    expect(readFileSync(join(mp, "data", "big.bin")).equals(big)).toBe(true)
    expect(readFileSync(join(mp, "etc", "motd"), "utf8")).toBe("streamed\n")
    await engine.removeContainer(c.id, { force: true })
    expect((await engine.fsck()).ok).toBe(true)
    await engine.close()
  })

  /** A 2-layer image pushed to the registry as test/<name>:1; its lower layer's body held back until the upper's is sent. */
  const heldImage = async (name: string, lower: Buffer, upper: Buffer) => {
    const built = buildLayout(join(dir, name), name, [{ tar: lower }, { tar: upper }])
    const source = await Engine.open({ root: join(dir, `${name}-source`) })
    await source.importImage(`oci:${join(dir, name)}:${name}`, `${name}:1`, { unpack: false })
    await source.push(`${name}:1`, `${registry.host}/test/${name}:1`)
    await source.close()
    const proxy = await startHoldProxy(registry.host, built.layerDigests[0]!, built.layerDigests[1]!)
    const root = join(dir, `${name}-root`)
    const engine = await Engine.open({ root })
    const store = engine.service.context.store
    const opened: Array<string> = []
    const open = store.open.bind(store)
    ;(store as { open: typeof store.open }).open = (d) => {
      opened.push(d)
      return open(d)
    }
    const chain = chainIds(built.diffIds).map((c) => c.slice(7))
    return { built, proxy, root, engine, opened, ref: `${proxy.host}/test/${name}:1`, upperFs: join(root, "snapshots", chain[1]!, "fs") }
  }

  it("an upper layer streams before the snapshot below it exists: the parents its tar omits take the lower's metadata when it is adopted", async () => {
    const lower = rawTar([
      { name: "tmp/", type: "5", mode: 0o1777, uid: 7, gid: 8, mtime: 1_400_000_000 },
      { name: "srv/", type: "5", mode: 0o750, uid: 3, gid: 4, mtime: 1_300_000_000 },
      { name: "srv/www/", type: "5", mode: 0o711, uid: 5, gid: 6, mtime: 1_200_000_000 }
    ])
    // no entry for tmp/, srv/ or srv/www/: they are parents the layer makes
    const upper = rawTar([
      { name: "tmp/new", body: "x", mtime: 1_500_000_000 },
      { name: "srv/www/index.html", body: "hi", mtime: 1_500_000_000 },
      { name: "opt/tool", body: "t", mtime: 1_500_000_000 }
    ])
    const { built, proxy, engine, opened, ref, upperFs } = await heldImage("held", lower, upper)
    try {
      const img = await engine.pull(ref, "held:1")
      expect((await engine.inspectImage(img.digest)).layers.every((l) => l.snapshot)).toBe(true)
      // both layers were extracted from the response bytes: neither blob was read back
      expect(opened.filter((d) => built.layerDigests.includes(d))).toEqual([])
      const meta = (p: string) => {
        const st = lstatSync(join(upperFs, p))
        return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.round(st.mtimeMs / 1000) }
      }
      expect(meta("tmp")).toEqual({ mode: 0o1777, uid: 7, gid: 8, mtime: 1_400_000_000 })
      expect(meta("srv")).toEqual({ mode: 0o750, uid: 3, gid: 4, mtime: 1_300_000_000 })
      expect(meta("srv/www")).toEqual({ mode: 0o711, uid: 5, gid: 6, mtime: 1_200_000_000 })
      // a parent no lower layer has is root's 0755, as umoci's MkdirAll makes it
      expect(meta("opt")).toMatchObject({ mode: 0o755, uid: 0, gid: 0 })
      // what the container sees
      const c = await engine.createContainer("held:1")
      const mp = await engine.mountContainer(c.id)
      expect(lstatSync(join(mp, "tmp")).mode & 0o7777).toBe(0o1777)
      expect(readFileSync(join(mp, "srv/www/index.html"), "utf8")).toBe("hi")
      await engine.removeContainer(c.id, { force: true })
      expect((await engine.fsck()).ok).toBe(true)
    } finally {
      await engine.close()
      await proxy.close()
    }
  })

  it("an upper layer that hardlinks to a file of the layer below gives up its streamed extraction, and is extracted from the store over its lowers", async () => {
    const lower = rawTar([{ name: "bin/busybox", body: "bb", mode: 0o755 }])
    const upper = rawTar([{ name: "bin/sh", type: "1", linkname: "bin/busybox" }])
    const { built, proxy, root, engine, opened, ref, upperFs } = await heldImage("linked", lower, upper)
    try {
      const img = await engine.pull(ref, "linked:1")
      expect((await engine.inspectImage(img.digest)).layers.every((l) => l.snapshot)).toBe(true)
      // the lower streamed; the upper was read back from the store once its lower snapshot existed
      expect(opened).not.toContain(built.layerDigests[0])
      expect(opened).toContain(built.layerDigests[1])
      expect(readFileSync(join(upperFs, "bin/sh"), "utf8")).toBe("bb")
      expect(readdirSync(join(root, "snapshots")).filter((n) => n.startsWith("."))).toEqual([])
      expect((await engine.fsck()).ok).toBe(true)
    } finally {
      await engine.close()
      await proxy.close()
    }
  })

  it("a layer corrupted mid-stream leaves no blob, no snapshot and no partial directory", async () => {
    const proxy = await startFaultProxy(registry.host)
    const root = join(dir, "corrupt")
    const engine = await Engine.open({ root })
    try {
      proxy.rule = (req) => (req.method === "GET" && req.path.endsWith(layerDigests[0]!) ? { kind: "corrupt", at: Math.floor(BIG / 2) } : undefined)
      await expect(engine.pull(`${proxy.host}/test/big:1`, "big:1")).rejects.toMatchObject({ _tag: "DigestMismatchError" })
      nothingOf(root, layerDigests[0]!, diffIds[0]!.slice(7))
      expect(await engine.listImages()).toEqual([])
      // the same pull without the fault completes
      proxy.rule = () => undefined
      const img = await engine.pull(`${proxy.host}/test/big:1`, "big:1")
      expect((await engine.inspectImage(img.digest)).layers.every((l) => l.snapshot)).toBe(true)
    } finally {
      await engine.close()
      await proxy.close()
    }
  })

  it("a download whose blob another process stored meanwhile does not hang: the store's put returns without reading, the tee stops", async () => {
    // two pulls of one image into one root: the registry client saw the blob missing, then the
    // other process committed it, so the store's put answers "present" without reading the bytes
    const root = join(dir, "raced")
    const engine = await Engine.open({ root })
    try {
      await engine.importImage(`oci:${join(dir, "src")}:big`, "big:1", { unpack: false })
      const ctx = engine.service.context
      const layer = { digest: parseDigest(layerDigests[0]!), size: 0, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }
      const blob = readFileSync(join(root, "blobs", "sha256", layer.digest.slice(7)))
      const desc = { ...layer, size: blob.length }
      const streaming = new StreamingExtractor(ctx, [desc], async () => ({ diffId: parseDigest(diffIds[0]!), lowers: [] }))
      // the bytes arrive in 64 KiB chunks, far more than the tee holds (TEE_BUFFER) when nobody reads them
      async function* response() {
        for (let o = 0; o < blob.length; o += 1 << 16) yield blob.subarray(o, o + (1 << 16))
      }
      const r = await ctx.store.withLease((lease) => streaming.sink(ctx.store.sink(lease)).put(desc, response()))
      expect(r.created).toBe(false)
      // nothing was prepared from a part of the blob: the snapshot is made from the stored blob
      const target = join(root, "adopted")
      expect(await streaming.adopt(desc, parseDigest(diffIds[0]!), target, [])).toBe(false)
      expect(existsSync(target)).toBe(false)
      expect(readdirSync(join(root, "snapshots")).filter((n) => n.startsWith("."))).toEqual([])
      const c = await engine.createContainer("big:1")
      const mp = await engine.mountContainer(c.id)
      expect(readFileSync(join(mp, "data", "big.bin")).equals(big)).toBe(true)
      await engine.removeContainer(c.id, { force: true })
    } finally {
      await engine.close()
    }
  }, 60_000)

  it("a pull SIGKILLed mid-download resumes where the store's ingest stopped, and completes", async (ctx) => {
    const skip = buildForChildren()
    if (skip !== undefined) {
      console.warn(`skipping the SIGKILL pull: ${skip}`)
      ctx.skip()
    }
    const proxy = await startStallProxy(registry.host)
    const root = join(dir, "killed")
    try {
      proxy.state.stall = { path: layerDigests[0]!, after: STALL_AT }
      const child = spawn(process.execPath, [join(import.meta.dirname, "pull-child.mjs"), root, `${proxy.host}/test/big:1`], { stdio: ["ignore", "pipe", "pipe"] })
      let err = ""
      child.stderr.on("data", (d) => (err += d))
      const exited = new Promise<void>((r) => child.once("exit", () => r()))
      await proxy.state.stalled
      // the bytes sent reach the store's ingest file (written as they arrive): wait for them, then kill
      const ingest = join(root, "ingest", `sha256-${layerDigests[0]!.slice(7)}`)
      const deadline = Date.now() + 30_000
      while (!existsSync(ingest) || statSync(ingest).size < STALL_AT) {
        if (Date.now() > deadline) throw new Error(`the ingest never reached ${STALL_AT} bytes: ${err}`)
        await sleep(20)
      }
      child.kill("SIGKILL")
      await exited
      expect(err).toBe("")
      expect(readdirSync(join(root, "snapshots")).filter((n) => n.startsWith(".tmp-"))).not.toEqual([]) // the killed extraction's temp dir
      proxy.state.stall = undefined
      proxy.state.ranges.length = 0
      const engine = await Engine.open({ root }) // removes the dead process's temp dirs
      expect(readdirSync(join(root, "snapshots")).filter((n) => n.startsWith("."))).toEqual([])
      const img = await engine.pull(`${proxy.host}/test/big:1`, "big:1")
      // the layer's download went on from the bytes the store held: a Range request from there
      expect(proxy.state.ranges.filter((r) => r.path.endsWith(layerDigests[0]!))).toEqual([
        { path: expect.stringContaining(layerDigests[0]!), range: `bytes=${STALL_AT}-` }
      ])
      expect((await engine.inspectImage(img.digest)).layers.every((l) => l.snapshot)).toBe(true)
      const c = await engine.createContainer("big:1")
      const mp = await engine.mountContainer(c.id)
      expect(readFileSync(join(mp, "data", "big.bin")).equals(big)).toBe(true)
      await engine.removeContainer(c.id, { force: true })
      expect((await engine.fsck()).ok).toBe(true)
      await engine.close()
    } finally {
      await proxy.close()
    }
  }, 120_000)
})

describe("the tee of a streamed layer", () => {
  it("goes on when one side drained while it waited for the other (a pull that stalled at 161 of 210 MB in CI)", async () => {
    // chunks larger than what each side holds: every write is refused by both sides
    const chunks = [0, 1, 2].map((i) => Buffer.alloc(32, i))
    async function* source() {
      yield* chunks
    }
    const { main, side } = tee(source(), 16)
    // the side is read at once; the main side only once the side has had its first chunk, so the
    // side's 'drain' comes while the tee waits for the main side's
    let sideGotFirst!: () => void
    const firstOnSide = new Promise<void>((r) => (sideGotFirst = r))
    const readAll = async (s: AsyncIterable<Uint8Array>, onFirst?: () => void) => {
      const got: Uint8Array[] = []
      for await (const c of s) {
        got.push(c)
        onFirst?.()
      }
      return Buffer.concat(got)
    }
    const sideBytes = readAll(side, () => sideGotFirst())
    await firstOnSide
    const mainBytes = readAll(main)
    const want = Buffer.concat(chunks)
    expect((await mainBytes).equals(want)).toBe(true)
    expect((await sideBytes).equals(want)).toBe(true)
  }, 10_000)

  it("hands each reader the source's own chunks, never joined into copies, and reads the source at most its fill ahead of the slower reader", async () => {
    const chunks = Array.from({ length: 10 }, (_, i) => Buffer.alloc(8, i))
    let pulled = 0
    async function* source() {
      for (const c of chunks) {
        pulled++
        yield c
      }
    }
    const { main, side } = tee(source(), 24)
    const fromSide: Uint8Array[] = []
    for await (const c of side) {
      fromSide.push(c)
      if (fromSide.length === 3) break
    }
    // main is not read yet: it holds what it was given, and the source waits once it holds its
    // fill of 24 bytes (3 chunks of 8), so the side could not have had a 4th chunk
    expect(pulled).toBe(3)
    // the side left its loop early: it stopped, and main goes on alone to the end
    expect(side.destroyed).toBe(true)
    const fromMain: Uint8Array[] = []
    for await (const c of main) fromMain.push(c)
    expect(main.finished).toBe(true)
    expect(fromMain.length).toBe(10)
    for (const [i, c] of fromMain.entries()) expect(c).toBe(chunks[i])
    for (const [i, c] of fromSide.entries()) expect(c).toBe(chunks[i])
  }, 10_000)

  it("shares lent chunks (a bulk download's): one is given back for reuse only once the store and the extractor both gave theirs back", async () => {
    // given back, a lent chunk's memory is read into again: here it is scribbled over at once
    const want = Array.from({ length: 6 }, (_, i) => Buffer.alloc(8, i + 1))
    let givenBack = 0
    async function* source() {
      for (const c of want) {
        const piece = Buffer.from(c)
        yield lend(piece, () => {
          givenBack++
          piece.fill(0)
        })
      }
    }
    const { main, side } = tee(source(), 64)
    // the store's side gives every chunk back as it gets it; the extractor's reads after
    const fromMain: Uint8Array[] = []
    for await (const c of main) {
      fromMain.push(c)
      giveBack(c)
    }
    expect(givenBack).toBe(0)
    const fromSide: Uint8Array[] = []
    for await (const c of side) {
      fromSide.push(Buffer.from(c))
      expect(isLent(c)).toBe(true)
      giveBack(c)
    }
    expect(Buffer.concat(fromSide).equals(Buffer.concat(want))).toBe(true)
    expect(givenBack).toBe(want.length)
    expect(fromMain.every((c) => !isLent(c))).toBe(true)
  }, 10_000)

  it("a source failure reaches the main reader after the chunks before it", async () => {
    const chunks = Array.from({ length: 6 }, (_, i) => Buffer.alloc(8, i))
    async function* failing() {
      yield* chunks
      throw new Error("connection reset after 48 bytes")
    }
    const { main, side } = tee(failing(), 16)
    side.destroy()
    const got: Uint8Array[] = []
    await expect(
      (async () => {
        for await (const c of main) got.push(c)
      })()
    ).rejects.toThrow(/connection reset after 48 bytes/)
    expect(got.length).toBe(6)
    expect(main.finished).toBe(false)
  }, 10_000)
})
