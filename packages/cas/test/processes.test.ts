// Several real processes against one store: SIGKILL at random points, and concurrent writers.
import { join } from "node:path"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { Store } from "../src/index.js"
// @ts-expect-error plain JS shared with the child processes
import { blobData } from "./child/blobData.mjs"
import { buildForChildren, startChild, killChildren } from "./childProcess.js"
import { putImage } from "./imageFixture.js"
import { tempDir } from "./tempLayout.js"

const stress = process.env.CAIRN_STRESS === "1"

beforeAll(buildForChildren, 180_000)
afterEach(killChildren)

interface Step {
  ready?: boolean
  op?: string
  k?: number
  done?: boolean
  results?: Array<{ k: number; digest: string; created: boolean; manifest: string; manifestCreated: boolean }>
}

/** Run the child to its end. */
const runChild = async (args: string[]) => ({ steps: await startChild<Step>("storeChild.mjs", args).done })

const lastOp = (steps: Step[]) => steps.filter((s) => s.op !== undefined).at(-1)

async function expectConsistent(dir: string): Promise<Store> {
  const store = await Store.open(dir) // index.json parses
  const report = await store.fsck()
  expect(report.corrupt).toEqual([])
  expect(report.ok).toBe(true)
  return store
}

/** A started child that waits for "go" on stdin; `runAndKill` resolves with its steps after SIGKILL. */
function startMixed(dir: string, from: number, phase: number) {
  let onReady!: () => void
  const ready = new Promise<void>((r) => {
    onReady = r
  })
  const { p, done, lines } = startChild<Step>("storeChild.mjs", ["mixed", dir, `${from},${phase}`], (step) => {
    if (step.ready) onReady()
  })
  return {
    ready,
    /** let it run for `ms`, then SIGKILL it */
    async runAndKill(ms: number): Promise<Step[]> {
      p.stdin.write("go\n")
      await new Promise((r) => setTimeout(r, ms))
      p.kill("SIGKILL")
      const err = await done.then(
        () => new Error("child ended before the kill"),
        (e: Error) => e
      )
      if (!/killed by SIGKILL/.test(err.message)) throw err
      return lines
    }
  }
}

describe("crash safety", () => {
  const rounds = stress ? 60 : 17
  const perRound = 3

  it(`stays consistent when put/tag/gc processes are SIGKILLed at random points (${rounds * perRound} kills)`, async () => {
    const dir = join(tempDir(), "store")
    const store = await Store.open(dir)
    const img = await putImage(store)
    await store.tag("base", img.manifest)
    const spawnRound = (r: number) => Array.from({ length: perRound }, (_, j) => startMixed(dir, r * 100 + j * 1_000_000, (r + j) % 3))
    let next = spawnRound(0)
    const seen = { put: 0, tag: 0, gc: 0, resumed: 0 }
    for (let r = 0; r < rounds; r++) {
      const current = next
      const t0 = Date.now()
      await Promise.all(current.map((c) => c.ready))
      const t1 = Date.now()
      const runs = await Promise.all(current.map((c) => c.runAndKill(20 + Math.random() * 250)))
      // start the next round's processes now: their start-up overlaps the checks below
      if (r + 1 < rounds) next = spawnRound(r + 1)
      const t2 = Date.now()
      const s = await expectConsistent(dir)
      const t3 = Date.now()
      if (process.env.CAIRN_DEBUG) console.log(`round ${r}: ready ${t1 - t0} run ${t2 - t1} fsck ${t3 - t2}`)
      expect((await s.resolve("base")).digest).toBe(img.manifest.digest)
      for (const d of img.blobs) expect(await s.has(d)).toBe(true)
      // redo what each process had in flight
      for (const steps of runs) {
        const op = lastOp(steps)
        if (op?.k === undefined) continue
        if (op.op === "put") {
          seen.put++
          const data: Buffer = blobData(op.k, (1 + (op.k % 3)) << 18)
          const desc = { digest: blobData.digest(data), size: data.length }
          const offset = await s.ingestOffset(desc.digest)
          if (offset > 0 && offset < data.length && !(await s.has(desc.digest))) {
            seen.resumed++
            await s.resume(desc, offset, [data.subarray(offset)])
          } else await s.put(desc, data)
          expect(await s.stat(desc.digest)).toEqual({ size: data.length })
        } else if (op.op === "tag") {
          seen.tag++
          await s.tag(`t${op.k % 7}`, img.manifest.digest)
          expect((await s.resolve(`t${op.k % 7}`)).digest).toBe(img.manifest.digest)
        } else if (op.op === "gc") {
          seen.gc++
          await s.gc()
        }
      }
    }
    await expectConsistent(dir)
    console.log(`crash test: kills landed in put ${seen.put}, tag ${seen.tag}, gc ${seen.gc}; ${seen.resumed} puts resumed from partial bytes`)
    expect(seen.put).toBeGreaterThan(0)
  }, 600_000)
})

describe("concurrency", () => {
  it("8 processes putting overlapping blobs and tagging: each blob written once, every tag there, fsck clean", async () => {
    const dir = join(tempDir(), "store")
    await Store.open(dir)
    const workers = 8
    const runs = await Promise.all(Array.from({ length: workers }, (_, i) => runChild(["worker", dir, `${i},${i * 4},${i * 4 + 12}`])))
    const results = runs.flatMap((r) => r.steps.find((s) => s.done)?.results ?? [])
    expect(results.length).toBe(workers * 12)
    const createdBy = new Map<string, number>()
    for (const r of results) {
      createdBy.set(r.digest, (createdBy.get(r.digest) ?? 0) + (r.created ? 1 : 0))
      createdBy.set(r.manifest, (createdBy.get(r.manifest) ?? 0) + (r.manifestCreated ? 1 : 0))
    }
    const distinct = (workers - 1) * 4 + 12
    expect(createdBy.size).toBe(distinct * 2)
    for (const n of createdBy.values()) expect(n).toBe(1)
    const store = await expectConsistent(dir)
    expect((await store.tags()).length).toBe(workers * 12)
    const report = await store.fsck()
    expect(report.blobs).toBe(distinct * 2 + 1) // plus the empty config
    expect(report.orphans).toEqual([])
  })
})
