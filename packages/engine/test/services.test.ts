// The engine over its services: a Snapshotter and a Clock given in a test replace the live
// ones; two engines in one process share no mounts, helper or in-flight state; close() releases.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { detect } from "@cairn/mount"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Store } from "@cairn/cas"
import { CasImageStore, ContentStore, Engine, type EngineEvent, EngineEvents, EngineService, EventListeners, Snapshotter, type SnapshotterShape } from "../src/index.js"
import type { EngineContext } from "../src/context.js"
import { RootLayout } from "../src/root.js"
import { overlaySnapshotter } from "../src/snapshotter.js"
import { type BuiltImage, buildLayout, busyboxLayer, mountinfoLines, tempDir } from "./fixtures.js"

const report = await detect()
const usable = new Set(report.drivers.filter((d) => d.usable).map((d) => d.driver))

describe("engine services", () => {
  let dir: string
  let src: BuiltImage

  beforeAll(() => {
    dir = tempDir()
    src = buildLayout(join(dir, "src"), "busybox:1.0", [busyboxLayer, { files: { "etc/motd": "hello\n" } }], { Cmd: ["sh"] })
  })
  afterAll(() => {
    expect(mountinfoLines(dir)).toEqual([]) // nothing leaked: checked before anything is deleted
    rmSync(dir, { recursive: true, force: true })
  })

  it("runs against a given ContentStore and Snapshotter (recording ones over the live ones), publishes to a given event bus and stamps times from the given Clock", async () => {
    const root = join(dir, "recorded")
    // every put and tag of the operations goes through the given store
    const liveStore = new CasImageStore(await Store.open(root))
    const stored: Array<string> = []
    const recordingStore = new Proxy(liveStore, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown
        if (typeof value !== "function") return value
        return (...args: Array<unknown>) => {
          if (key === "put") stored.push(`put ${(args[0] as { digest: string }).digest}`)
          if (key === "tag") stored.push(`tag ${String(args[0])}`)
          return (value as (...a: Array<unknown>) => unknown).apply(target, args)
        }
      }
    })
    const live = overlaySnapshotter(new RootLayout(root))
    const calls: Array<string> = []
    const recording: SnapshotterShape = {
      ...live,
      prepare: (parents) => {
        calls.push(`prepare over ${parents.length}`)
        return live.prepare(parents)
      },
      commit: (key, meta) => {
        calls.push(`commit ${meta.chainId}`)
        return live.commit(key, meta)
      },
      mounts: (chain, writable) => {
        calls.push(`mounts of ${chain.length}`)
        return live.mounts(chain, writable)
      }
    }
    const at = Date.UTC(2001, 1, 3, 4, 5, 6)
    const program = Effect.gen(function*() {
      yield* TestClock.setTime(at)
      const engine = yield* EngineService
      yield* engine.importImage(`oci:${src.dir}:busybox:1.0`)
      const c = yield* engine.createContainer("busybox:1.0")
      const inspect = yield* engine.inspectImage("busybox:1.0")
      yield* TestClock.adjust(Duration.hours(1))
      yield* engine.commitContainer(c.id, { name: "committed:1" })
      const history = yield* engine.history("committed:1")
      return { c, chainIds: inspect.layers.map((l) => l.chainId), history }
    })
    // a bus of the test's own: the engine publishes there
    const bus = new EventListeners()
    const seen: Array<EngineEvent["type"]> = []
    bus.on((e) => seen.push(e.type))
    const layer = Engine.layer({ root }).pipe(
      Layer.provide(Layer.mergeAll(Layer.succeed(ContentStore, recordingStore), Layer.succeed(Snapshotter, recording), Layer.succeed(EngineEvents, bus))),
      Layer.provideMerge(TestClock.layer())
    )
    const { c, chainIds, history } = await Effect.runPromise(Effect.scoped(Effect.provide(program, layer)))
    // every snapshot went through the given snapshotter, bottom layer first, each over the one below
    expect(calls.slice(0, 4)).toEqual(["prepare over 0", `commit ${chainIds[0]}`, "prepare over 1", `commit ${chainIds[1]}`])
    expect(existsSync(join(root, "snapshots", chainIds[1]!.slice(7), "fs", "etc", "motd"))).toBe(true)
    // the fake clock's time, not the wall clock's
    expect(c.created).toBe(new Date(at).toISOString())
    const meta = JSON.parse(readFileSync(join(root, "snapshots", chainIds[0]!.slice(7), "meta.json"), "utf8")) as { created: string }
    expect(meta.created).toBe(new Date(at).toISOString())
    expect(seen).toEqual(["image.imported", "container.created", "container.committed"])
    for (const l of src.layerDigests) expect(stored).toContain(`put ${l}`)
    expect(stored.filter((x) => x.startsWith("tag "))).toEqual(["tag busybox:1.0", "tag committed:1"])
    // the commit an hour later on the same clock
    expect(history.find((h) => h.createdBy === "cairn commit")?.created).toBe(new Date(at + 3_600_000).toISOString())
  })

  it("keeps two engines' mounts and mount helpers apart; close() releases one and refuses its later calls", async () => {
    const a = await Engine.open({ root: join(dir, "a") })
    const b = await Engine.open({ root: join(dir, "b") })
    try {
      for (const e of [a, b]) await e.importImage(`oci:${src.dir}:busybox:1.0`)
      const ca = await a.createContainer("busybox:1.0")
      const cb = await b.createContainer("busybox:1.0")
      expect(a.service.context.inFlight).not.toBe(b.service.context.inFlight)
      const kernel = usable.has("kernel")
      const mpa = await a.mountContainer(ca.id, { driver: kernel ? "overlay" : "copy" })
      const mpb = await b.mountContainer(cb.id, { driver: kernel ? "overlay" : "copy" })
      expect(readFileSync(join(mpa, "etc", "motd"), "utf8")).toBe("hello\n")
      // each engine knows only the mount it made
      expect([...a.service.context.mounts.keys()]).toEqual([ca.id])
      expect([...b.service.context.mounts.keys()]).toEqual([cb.id])
      const pa = a.service.context.mounter.helperPid()
      const pb = b.service.context.mounter.helperPid()
      if (kernel && pa !== undefined) expect(pa).not.toBe(pb)
      await a.unmountContainer(ca.id)
      await a.close()
      expect(a.service.context.mounts.size).toBe(0)
      if (pa !== undefined) {
        for (let i = 0; i < 500 && existsSync(`/proc/${pa}`); i++) await new Promise((r) => setTimeout(r, 10))
        expect(existsSync(`/proc/${pa}`)).toBe(false)
      }
      await expect(a.listImages()).rejects.toMatchObject({ _tag: "EngineClosedError", message: expect.stringContaining(join(dir, "a")) })
      await expect(a.mountContainer(ca.id)).rejects.toMatchObject({ _tag: "EngineClosedError" })
      // the other engine goes on with its own helper
      expect(readFileSync(join(mpb, "etc", "motd"), "utf8")).toBe("hello\n")
      await b.unmountContainer(cb.id)
      expect((await b.listContainers())[0]?.mounted).toBe(false)
    } finally {
      await a.close()
      for (const c of await b.listContainers()) await b.removeContainer(c.id, { force: true })
      await b.close()
    }
  })

  it("an interrupted container operation stops where it is: a mount or a create waiting for a lock, given up by Effect.timeout, never happens later", async () => {
    const root = join(dir, "interrupted")
    const engine = await Engine.open({ root })
    try {
      await engine.importImage(`oci:${src.dir}:busybox:1.0`)
      const c = await engine.createContainer("busybox:1.0")
      // another process holds the container's lock (a live holder's token: ours, written by hand)
      const lock = join(root, "locks", `container-${c.id.slice(0, 32)}.lock`)
      writeFileSync(lock, `${process.pid} - another\n`)
      const driver = usable.has("kernel") ? "overlay" : "copy"
      const timedOut = await Effect.runPromise(Effect.flip(Effect.timeout(engine.service.mountContainer(c.id, { driver }), "200 millis")))
      expect(timedOut._tag).toBe("TimeoutError")
      // the holder lets go; had the mount gone on waiting it would be first in line for the lock
      // (this process's waiters queue in order), so the unmount below would find it mounted
      rmSync(lock)
      await expect(engine.unmountContainer(c.id)).rejects.toMatchObject({ _tag: "ContainerNotMountedError" })
      expect((await engine.listContainers())[0]?.mounted).toBe(false)
      expect(engine.service.context.mounts.size).toBe(0)
      expect(mountinfoLines(root)).toEqual([])
      // the same for a create waiting for the lock of the container list: prune queues behind it
      // (it takes that lock too), so a create that went on waiting would be listed after it
      writeFileSync(join(root, "locks", "containers.lock"), `${process.pid} - another\n`)
      const late = await Effect.runPromise(Effect.flip(Effect.timeout(engine.service.createContainer("busybox:1.0", { name: "late" }), "200 millis")))
      expect(late._tag).toBe("TimeoutError")
      rmSync(join(root, "locks", "containers.lock"))
      await engine.prune()
      expect((await engine.listContainers()).map((x) => x.name)).toEqual([c.name])
      // and the lock is free: a mount now goes through
      const mp = await engine.mountContainer(c.id, { driver })
      expect(readFileSync(join(mp, "etc", "motd"), "utf8")).toBe("hello\n")
      await engine.removeContainer(c.id, { force: true })
      expect(readdirSync(join(root, "locks")).filter((f) => f.endsWith(".lock"))).toEqual([])
    } finally {
      await engine.close()
    }
  })

  it("interrupting an unpack waits for the layer being applied, applies no other, and leaves neither DIR nor its temporary sibling", async () => {
    const engine = await Engine.open({ root: join(dir, "unpack-interrupted") })
    try {
      // the engine's layer applier, held at its first layer until the test lets it go
      const ctx = engine.service.context as { applyFlat: EngineContext["applyFlat"] }
      const original = ctx.applyFlat
      const started: Array<string> = []
      let entered!: () => void
      const inFirst = new Promise<void>((resolve) => (entered = resolve))
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      ctx.applyFlat = async (layer, ...rest) => {
        started.push(layer.digest)
        entered()
        await gate
        return original(layer, ...rest)
      }
      const out = join(dir, "unpacked")
      const fiber = Effect.runFork(engine.service.unpack(`oci:${src.dir}:busybox:1.0`, out))
      await inFirst
      let done = false
      const interrupted = Effect.runPromise(Fiber.interrupt(fiber)).then(() => (done = true))
      await new Promise((resolve) => setImmediate(resolve))
      expect(done).toBe(false) // still waiting for the layer under way
      release()
      await interrupted
      expect(started).toEqual([src.layerDigests[0]])
      expect(existsSync(out)).toBe(false)
      expect(readdirSync(dir).filter((n) => n.startsWith(".unpacked"))).toEqual([])
      // the engine goes on: the same unpack, not interrupted, completes
      await engine.unpack(`oci:${src.dir}:busybox:1.0`, out)
      expect(readFileSync(join(out, "etc", "motd"), "utf8")).toBe("hello\n")
    } finally {
      await engine.close()
    }
  })

  it.skipIf(!usable.has("rootless"))("close() ends the rootless mounts it made (they live as long as their maker)", async () => {
    const root = join(dir, "rootless")
    const a = await Engine.open({ root })
    const c = await a.createContainer(((await a.importImage(`oci:${src.dir}:busybox:1.0`)) as { name: string }).name)
    const mp = await a.mountContainer(c.id, { driver: "rootless" })
    const helper = /^\/proc\/(\d+)\/root\//.exec(mp)?.[1]
    expect(helper).toBeDefined()
    await a.close()
    for (let i = 0; i < 500 && existsSync(`/proc/${helper}`); i++) await new Promise((r) => setTimeout(r, 10))
    expect(existsSync(`/proc/${helper}`)).toBe(false)
    const again = await Engine.open({ root })
    try {
      expect((await again.listContainers()).find((x) => x.id === c.id)?.mounted).toBe(false)
      await again.removeContainer(c.id)
    } finally {
      await again.close()
    }
  })
})
