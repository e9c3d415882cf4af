import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { LockTimeoutError, Store } from "../src/index.js"
import { acquireLock, holdLock, withLock } from "../src/lockFile.js"
import { putImage } from "./imageFixture.js"
import { tempDir } from "./tempLayout.js"

describe("lock files", () => {
  it("breaks a lock left by a process that is gone", async () => {
    const store = await Store.open(tempDir())
    const img = await putImage(store, 1)
    mkdirSync(store.layout.locksDir, { recursive: true })
    writeFileSync(store.layout.indexLock, "999999999 12345 deadbeef\n") // no such pid
    await store.tag("x", img.manifest)
    expect(existsSync(store.layout.indexLock)).toBe(false)
  })

  it("treats a reused pid with another start time as gone", async () => {
    const dir = tempDir()
    const lock = join(dir, "l.lock")
    writeFileSync(lock, `${process.pid} 1 cafe\n`) // our pid, but not our start time
    const h = await acquireLock(lock, { timeoutMs: 1000 })
    await h.release()
    expect(readdirSync(dir)).toEqual([])
  })

  it("waits for a live holder and times out with the holder named", async () => {
    const dir = tempDir()
    const lock = join(dir, "l.lock")
    writeFileSync(lock, `${process.pid} - live\n`)
    const e = await acquireLock(lock, { timeoutMs: 200 }).catch((x) => x)
    expect(e).toBeInstanceOf(LockTimeoutError)
    expect(e.holder).toContain(String(process.pid))
  })

  it("serializes critical sections", async () => {
    const lock = join(tempDir(), "l.lock")
    let inside = 0
    let max = 0
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withLock(lock, async () => {
          inside++
          max = Math.max(max, inside)
          await new Promise((r) => setTimeout(r, 2))
          inside--
        })
      )
    )
    expect(max).toBe(1)
  })

  it("holds a lock for a holder whose work is not one Promise, queued in order; an aborted wait gives its turn on and takes nothing", async () => {
    const dir = tempDir()
    const lock = join(dir, "l.lock")
    const order: Array<string> = []
    const first = await holdLock(lock)
    const aborter = new AbortController()
    const abandoned = holdLock(lock, { signal: aborter.signal }).then(
      () => order.push("abandoned took it"),
      (e: Error) => order.push(`abandoned: ${e.message}`)
    )
    const third = holdLock(lock).then((h) => {
      order.push("third")
      return h
    })
    aborter.abort(new Error("given up"))
    await abandoned
    expect(order).toEqual(["abandoned: given up"]) // stopped while the first still held it
    await first.release()
    const h = await third
    expect(order).toEqual(["abandoned: given up", "third"])
    await h.release()
    expect(readdirSync(dir)).toEqual([])
    // a wait on a lock another process holds stops when aborted, leaving the holder's file alone
    writeFileSync(lock, `${process.pid} - live\n`)
    const e = await acquireLock(lock, { signal: AbortSignal.timeout(50), timeoutMs: 60_000 }).catch((x: Error) => x)
    expect(e).toBeInstanceOf(Error)
    expect((e as Error).name).toBe("TimeoutError")
    expect(readdirSync(dir)).toEqual(["l.lock"])
  })
})
