// A MountState per owner: two Mounters (two engines) share no helper process and no cache;
// close() stops the helper and forgets what was detected.
import { existsSync } from "node:fs"
import * as Effect from "effect/Effect"
import { afterEach, describe, expect, it } from "vitest"
import { listMounts, makeMounter, mountAt, MountState } from "../src/index.js"
import { helperPid, helperStatus } from "../src/helper.js"
import { containerDirs, isRoot, noLeak, writeTree } from "./fixtures.js"

const usable = isRoot && helperStatus().enabled
if (!usable) console.warn(`[@cairn/mount] skipping MountState tests: ${isRoot ? helperStatus().reason : "they need root (kernel mounts through the helper)"}`)

/** Waits until the process is gone (the helper exits on its own after close). */
const gone = async (pid: number) => {
  for (let i = 0; i < 500 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 10))
  return !existsSync(`/proc/${pid}`)
}

describe.skipIf(!usable)("MountState", () => {
  const cleanups: Array<() => void> = []
  afterEach(() => {
    for (const c of cleanups.splice(0)) c()
  })

  it("gives two mounters two helpers and two caches; close() stops one and leaves the other working", () =>
    noLeak(async () => {
      const a = new MountState()
      const b = new MountState()
      const ma = makeMounter(a, { driver: "kernel" })
      const mb = makeMounter(b, { driver: "kernel" })
      const one = containerDirs()
      const two = containerDirs()
      cleanups.push(one.cleanup, two.cleanup)
      writeTree(one.lower, { "a.txt": "a\n" })
      writeTree(two.lower, { "b.txt": "b\n" })
      const m1 = await Effect.runPromise(ma.acquire({ lowers: [one.lower], upper: one.upper, work: one.work, target: one.target }))
      const m2 = await Effect.runPromise(mb.acquire({ lowers: [two.lower], upper: two.upper, work: two.work, target: two.target }))
      const pa = helperPid(a)
      const pb = helperPid(b)
      expect(pa).toBeGreaterThan(0)
      expect(pb).toBeGreaterThan(0)
      expect(pa).not.toBe(pb)
      await Effect.runPromise(ma.detect)
      expect(a.detected).toBeDefined()
      expect(b.detected).toBeUndefined()

      await Effect.runPromise(ma.unmount(m1))
      await Effect.runPromise(ma.close)
      expect(a.isClosed).toBe(true)
      expect(a.detected).toBeUndefined()
      expect(helperPid(a)).toBeUndefined()
      expect(await gone(pa as number)).toBe(true)
      // b is untouched: its helper still answers
      expect(helperPid(b)).toBe(pb)
      expect(mountAt(await listMounts(), two.target)).toBeDefined()
      await Effect.runPromise(mb.unmount(m2))
      expect(mountAt(await listMounts(), two.target)).toBeUndefined()
      await Effect.runPromise(mb.close)
      expect(await gone(pb as number)).toBe(true)
    }))
})
