// Interrupting a pull stops its I/O and leaves nothing visible: Effect.timeout on the Effect
// API and an AbortSignal on the Promise API, against docker-registry on 127.0.0.1 behind a
// loopback proxy that trickles a layer's bytes (a few KiB, then a pause, forever).
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, busyboxLayer, mountinfoLines, tempDir } from "./fixtures.js"
import { haveRegistry, startProxy, startRegistry } from "./registryServer.js"

if (!haveRegistry) console.warn("skipping interrupted pulls: /usr/bin/docker-registry is missing (apt-get install docker-registry)")

/** Forwards everything; a GET of a blob whose path ends with `slow` gets 4 KiB every 50 ms. `started` resolves at its first bytes; `open` counts its live responses. */
async function startTrickleProxy(target: string, slow: string) {
  let signal!: () => void
  const state = { started: new Promise<void>((r) => (signal = r)), open: 0, closed: new Set<() => void>() }
  const proxy = await startProxy(target, (req, ures, res) => {
    if (!(req.method === "GET" && req.url?.endsWith(slow) === true)) return false
    state.open++
    ures.pause()
    const timer = setInterval(() => {
      const chunk = ures.read(4096) as Buffer | null
      if (chunk !== null) {
        res.write(chunk)
        signal()
      }
    }, 50)
    res.on("close", () => {
      clearInterval(timer)
      ures.destroy()
      state.open--
      for (const f of state.closed) f()
    })
    return true
  })
  return {
    host: proxy.host,
    state,
    /** resolves once no trickled response is open (the client closed its request) */
    allClosed: () =>
      new Promise<void>((resolve) => {
        if (state.open === 0) return resolve()
        const f = () => {
          if (state.open === 0) {
            state.closed.delete(f)
            resolve()
          }
        }
        state.closed.add(f)
      }),
    close: proxy.close
  }
}

describe.skipIf(!haveRegistry)("an interrupted pull", () => {
  let dir: string
  let registry: { host: string; stop: () => Promise<void> }
  let layerDigests: ReadonlyArray<string>
  let diffIds: ReadonlyArray<string>
  beforeAll(async () => {
    dir = tempDir()
    registry = await startRegistry()
    const built = buildLayout(join(dir, "src"), "big", [{ ...busyboxLayer, files: { ...busyboxLayer.files, "data/big.bin": randomBytes(4 << 20) } }])
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

  /** No blob, no snapshot, no temp dir, no image, no mount. */
  const nothingVisible = async (engine: Engine, root: string) => {
    expect(existsSync(join(root, "blobs", "sha256", layerDigests[0]!.slice(7)))).toBe(false)
    expect(existsSync(join(root, "snapshots", diffIds[0]!.slice(7)))).toBe(false)
    expect(readdirSync(join(root, "snapshots"))).toEqual([])
    expect(await engine.listImages()).toEqual([])
    expect(mountinfoLines(root)).toEqual([])
  }

  it("Effect.timeout interrupts it mid-download and leaves no blob, snapshot or mount", async () => {
    const proxy = await startTrickleProxy(registry.host, layerDigests[0]!)
    const root = join(dir, "timeout")
    const engine = await Engine.open({ root })
    try {
      const pull = engine.service.pull(`${proxy.host}/test/big:1`, "big:1")
      // the deadline comes once the layer is trickling in: the pull is mid-download when it fires.
      // 2 s, not less: the pull's start (manifest, config) takes ~0.2 s here and more under load,
      // and a deadline before the layer's request would leave nothing trickling to interrupt
      const deadline = performance.now() + 2000
      const run = Effect.runPromise(pull.pipe(Effect.timeout(Duration.millis(2000)), Effect.exit))
      // "ended" first: the deadline fired before the layer's download began
      expect(await Promise.race([proxy.state.started.then(() => "started"), run.then(() => "ended")])).toBe("started")
      const exit = await run
      const afterDeadline = performance.now() - deadline
      expect(exit._tag).toBe("Failure")
      expect(String(exit)).toMatch(/Timeout/i)
      // at 80 KiB/s the 4 MiB layer would take ~50 s: stopping within seconds of the deadline is
      // the interruption (the bound is loose for a loaded machine)
      expect(afterDeadline).toBeLessThan(5000)
      await proxy.allClosed() // its request was closed, not left reading
      await nothingVisible(engine, root)
    } finally {
      await engine.close()
      await proxy.close()
    }
  })

  it("an AbortSignal given to engine.pull stops it the same way", async () => {
    const proxy = await startTrickleProxy(registry.host, layerDigests[0]!)
    const root = join(dir, "signal")
    const engine = await Engine.open({ root })
    try {
      const controller = new AbortController()
      const pulling = engine.pull(`${proxy.host}/test/big:1`, "big:1", { signal: controller.signal })
      await proxy.state.started
      controller.abort(new Error("the user gave up"))
      await expect(pulling).rejects.toMatchObject({ message: expect.stringContaining("gave up") })
      await proxy.allClosed()
      await nothingVisible(engine, root)
    } finally {
      await engine.close()
      await proxy.close()
    }
  })
})
