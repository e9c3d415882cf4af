// Two processes storing the same blob at once (two pulls of one layer into one root, #14 item 6):
// the second finds the first's ingest in progress and must wait for it, resume its partial bytes,
// or be told clearly that it stalled; never fail because the other exists. The other writer is a
// child process (test/child/pullChild.mjs) holding a real ingest lock.
import { watch } from "node:fs"
import { mkdir, readdir } from "node:fs/promises"
import { join } from "node:path"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { Store } from "../src/index.js"
// @ts-expect-error plain JS shared with the child processes
import { blobData } from "./child/blobData.mjs"
import { buildForChildren, startChild, killChildren } from "./childProcess.js"
import { tempDir } from "./tempLayout.js"

beforeAll(buildForChildren, 180_000)
afterEach(killChildren)

interface Line {
  partial?: number
  offset?: number
  done?: boolean
  result?: { digest: string; size: number; created: boolean }
}

const start = (args: string[], onLine?: (l: Line) => void) => startChild<Line>("pullChild.mjs", args, onLine)

/** A child holding the ingest of blob k with its first half on disk; `partial` resolves then. */
function holdHalf(dir: string, k: number, size: number) {
  let onPartial!: () => void
  const partial = new Promise<void>((r) => {
    onPartial = r
  })
  const child = start([dir, String(k), String(size), "slow"], (l) => {
    if (l.partial !== undefined) onPartial()
  })
  return { ...child, partial: Promise.race([partial, child.done.then(() => Promise.reject(new Error("child ended before its first half")))]) }
}

/** Blob k half written by a child (holdHalf), and this process about to resume it from what is on disk. */
async function besideHalf(k: number) {
  const dir = join(tempDir(), "store")
  const size = 1 << 20
  const data: Buffer = blobData(k, size)
  const digest = blobData.digest(data) as string
  const a = holdHalf(dir, k, size)
  await a.partial
  const store = await Store.open(dir)
  // what a registry pull does: ask how much is held, then resume from there
  const offset = await store.ingestOffset(digest)
  /** resumes; `waiting` resolves once the resume waits on the child's ingest (or has ended) */
  const resume = (options: { stallMs?: number } = {}) => {
    let waited!: () => void
    const waiting = new Promise<void>((r) => {
      waited = r
    })
    const resumed = store.resume({ digest, size }, offset, [data.subarray(offset)], { ...options, onWait: () => waited() })
    return { resumed, waiting: Promise.race([waiting, resumed.then(() => {}, () => {})]) }
  }
  return { a, store, data, digest, size, offset, resume }
}

/**
 * A slow first writer holds the ingest; the second process starts once the first half is on disk,
 * and the first continues only after the second has tried the ingest lock (its lock attempt's temp
 * file appears in ingest/), so the two always overlap.
 */
async function race(second: "pull" | "put") {
  const dir = join(tempDir(), "store")
  await Store.open(dir)
  const k = second === "pull" ? 7 : 8
  const size = 3 << 20
  const data: Buffer = blobData(k, size)
  const digest: string = blobData.digest(data)
  const ingestDir = join(dir, "ingest")
  await mkdir(ingestDir, { recursive: true }) // to watch it from the start
  let b: ReturnType<typeof start> | undefined
  let released = false
  const a = start([dir, String(k), String(size), "slow"], (l) => {
    if (l.partial !== undefined) b = start([dir, String(k), String(size), second])
  })
  const watcher = watch(ingestDir, (_event, name) => {
    if (released || b?.p.pid === undefined || !name?.includes(`.lock.tmp-${b.p.pid}-`)) return
    released = true
    a.p.stdin.write("go\n")
  })
  try {
    const aLines = await a.done
    while (b === undefined) await new Promise((r) => setImmediate(r)) // started before a could end
    const bLines = await b.done
    const results = [aLines.at(-1)?.result, bLines.at(-1)?.result]
    expect(results.map((r) => r?.digest)).toEqual([digest, digest])
    expect(results.map((r) => r?.created).sort()).toEqual([false, true])
    if (second === "pull") expect(bLines[0]?.offset).toBeGreaterThan(0) // it took the resume path
  } finally {
    watcher.close()
    a.p.kill()
    b?.p.kill()
  }
  const store = await Store.open(dir)
  expect(await store.stat(digest)).toEqual({ size })
  const chunks: Buffer[] = []
  for await (const c of await store.get(digest, { verify: true })) chunks.push(c as Buffer)
  expect(Buffer.concat(chunks).equals(data)).toBe(true)
  expect(await readdir(ingestDir)).toEqual([])
}

describe("one blob stored by two processes at once", () => {
  it("a resume that waited continues the other writer's longer partial, skipping what its source repeats", async () => {
    const dir = join(tempDir(), "store")
    const store = await Store.open(dir)
    const ingestDir = join(dir, "ingest")
    await mkdir(ingestDir, { recursive: true })
    const data: Buffer = blobData(9, 1 << 20)
    const desc = { digest: blobData.digest(data) as string, size: data.length }
    const held = 600_000
    let cut!: () => void
    const cutNow = new Promise<void>((r) => {
      cut = r
    })
    // the first writer (here in this process: its lock is just as live) stops after `held` bytes
    async function* firstSource() {
      yield data.subarray(0, held)
      await cutNow
      throw new Error("connection reset")
    }
    const first = store.put(desc, firstSource())
    while ((await store.ingestOffset(desc.digest)) < held) await new Promise((r) => setImmediate(r))
    // the second started from an older offset; the first gives up once the second waits on the lock
    const waiting = new Promise<void>((resolve) => {
      const w = watch(ingestDir, (_e, name) => {
        if (name?.includes(".lock.tmp-")) {
          w.close()
          resolve()
        }
      })
    })
    const second = store.resume(desc, 1000, [data.subarray(1000)])
    await waiting
    cut()
    await expect(first).rejects.toThrow("connection reset")
    expect(await second).toEqual({ ...desc, created: true })
    const chunks: Buffer[] = []
    for await (const c of await store.get(desc.digest, { verify: true })) chunks.push(c as Buffer)
    expect(Buffer.concat(chunks).equals(data)).toBe(true)
    expect(await readdir(ingestDir)).toEqual([])
  })


  it("the second, resuming from the first's partial bytes, waits for it and finds the blob", async () => {
    const { a, store, data, digest, size, offset, resume } = await besideHalf(7)
    expect(offset).toBe(size >> 1)
    const { resumed, waiting } = resume()
    // before: IngestBusyError at once ("... is in progress in ...; wait for it or put without resuming")
    await waiting
    a.p.stdin.write("go\n")
    expect(await resumed).toMatchObject({ digest, size, created: false })
    expect((await a.done).at(-1)?.result).toMatchObject({ created: true })
    expect(Buffer.from(await store.read(digest as never)).equals(data)).toBe(true)
    expect((await store.fsck()).ok).toBe(true)
  }, 60_000)

  it("when the first writer dies mid-blob, the waiting one continues its partial bytes", async () => {
    const { a, store, data, digest, size, resume } = await besideHalf(8)
    const { resumed, waiting } = resume()
    await waiting
    a.p.stdin.write("die\n")
    await expect(a.done).rejects.toThrow(/killed by SIGKILL/)
    expect(await resumed).toMatchObject({ digest, size, created: true })
    expect(Buffer.from(await store.read(digest as never)).equals(data)).toBe(true)
  }, 60_000)

  it("a writer that makes no progress is reported after the stall limit, naming its pid and what to do", async () => {
    const { a, resume } = await besideHalf(9)
    const err = await resume({ stallMs: 300 }).resumed.then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toMatchObject({ _tag: "IngestBusyError", message: expect.stringMatching(/another process \(pid \d+\) is storing sha256:[0-9a-f]{64} and wrote nothing for \d+ s: retry/) })
    a.p.stdin.write("go\n")
    await a.done
  }, 60_000)

  it("a pull that finds the other's ingest in progress waits for it and both succeed", () => race("pull"))
  it("a put beside another's ingest in progress writes its own copy and both succeed", () => race("put"))
})
