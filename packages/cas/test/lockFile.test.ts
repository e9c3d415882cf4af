import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { LockTimeoutError, Store } from "../src/index.js"
import { acquireLock, withLock } from "../src/lockFile.js"
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
})
