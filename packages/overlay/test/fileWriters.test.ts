// The file-writer threads (src/fileWriters.ts) must not change what a layer produces: the same
// tree, the same failures, in flat form over a lower tree and in overlay form. Each random layer
// starts with enough small files to start the threads, then takes arbitrary entries (duplicate
// names, a file then a child of it, links to queued files, whiteouts of queued files).
import { readdirSync } from "node:fs"
import { Readable } from "node:stream"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { applyLayer } from "../src/apply.js"
import { buildLayer, numRuns, propertyTimeout, type Spec, tempDirs, treeListing } from "./diff-support.js"

const tmp = tempDirs()
afterAll(() => tmp.cleanup())

/** Enough plain files, over a few directories, for the applier to hand files to writer threads. */
const filler: Spec[] = [
  ...["f0", "f1", "f2"].map((d): Spec => ({ path: d, type: "directory" })),
  ...Array.from({ length: 300 }, (_, i): Spec => ({ path: `f${i % 3}/n${i}`, type: "file", body: "x".repeat(i % 7), mtime: 1_600_000_000 + i }))
]

const name = fc.array(fc.constantFrom("a", "b", "f0", "n1"), { minLength: 1, maxLength: 3 }).map((a) => a.join("/"))
const spec: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ path: name, type: fc.constant("file" as const), body: fc.constantFrom("", "1", "hello"), mode: fc.constantFrom(0o644, 0o600, 0o4755) }) },
  { weight: 2, arbitrary: fc.record({ path: name, type: fc.constant("directory" as const), mode: fc.constantFrom(0o755, 0o700) }) },
  { weight: 1, arbitrary: fc.record({ path: name, type: fc.constant("symlink" as const), target: fc.constantFrom("a", "../b", "/f0/n1") }) },
  { weight: 2, arbitrary: fc.record({ path: name, type: fc.constant("hardlink" as const), target: name }) },
  { weight: 2, arbitrary: fc.record({ path: name, type: fc.constant("whiteout" as const) }) },
  { weight: 1, arbitrary: fc.record({ path: name, type: fc.constant("opaque" as const) }) }
)
/** a layer: filler, random entries, filler again (files queued after the odd entries too) */
const layer = fc.array(spec, { maxLength: 12 }).map((s) => [...filler, ...s, ...filler.slice(3, 40).map((f) => ({ ...f, path: `${f.path}b` }))])

/** the tree with mtimes; directories made without a header of theirs get the time of day: "now" */
const listing = (dir: string) => treeListing(dir, { mtime: true }).map((r) => r.replace(/mtime=(\d+)$/, (m, s) => (Number(s) > 1_750_000_000 ? "mtime=now" : m)))

interface Outcome {
  tree: string[]
  error?: string
}

/** The tree and failure of applying `specs` (over `lower` applied first); undefined when `lower` itself fails. */
async function outcome(specs: readonly Spec[], lower: readonly Spec[] | undefined, form: "flat" | "overlay", writerThreads: number): Promise<Outcome | undefined> {
  const dir = tmp.make("writers")
  if (lower !== undefined) {
    const ok = await applyLayer(Readable.from([await buildLayer(lower)]), dir, { writerThreads: 0 }).then(
      () => true,
      () => false
    )
    if (!ok) return undefined
  }
  try {
    await applyLayer(Readable.from([await buildLayer(specs)]), dir, { form, writerThreads })
    return { tree: listing(dir) }
  } catch (e) {
    const err = e as { _tag?: string; path?: string; message?: string }
    return { tree: listing(dir), error: `${err._tag} ${err.path?.replace(dir, "")}: ${err.message?.replaceAll(dir, "")}` }
  }
}

describe("file-writer threads", () => {
  it(
    "give the same tree and the same failures as writing on one thread (flat over a lower tree, and overlay form)",
    async () => {
      await fc.assert(
        fc.asyncProperty(layer, layer, fc.constantFrom("flat" as const, "overlay" as const), async (lower, upper, form) => {
          const base = form === "flat" ? lower : undefined
          const one = await outcome(upper, base, form, 0)
          fc.pre(one !== undefined)
          const two = await outcome(upper, base, form, 2)
          // the same failure; the same tree when there is none (a failed layer's directory is thrown away,
          // and entries queued before the failing one may or may not have been written)
          expect(two?.error).toEqual(one.error)
          if (one.error === undefined) expect(two?.tree).toEqual(one.tree)
        }),
        { numRuns: numRuns(25) }
      )
    },
    propertyTimeout
  )

  it("report a file they cannot create with its path, and write nothing once the apply has failed", async () => {
    const dir = tmp.make("writers-fail")
    const tooLong = `f1/${"z".repeat(300)}`
    const specs: Spec[] = [...filler, { path: tooLong, type: "file", body: "late" }, ...filler.slice(3).map((f) => ({ ...f, path: `${f.path}c` }))]
    const threads = () => readdirSync("/proc/self/task").length
    const before = threads()
    const err = await applyLayer(Readable.from([await buildLayer(specs)]), dir, { writerThreads: 2 }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toMatchObject({ _tag: "ApplyEntryError", path: JSON.stringify(tooLong), message: expect.stringContaining("ENAMETOOLONG") })
    // the apply has returned only once its writer threads are gone: nothing is written later
    expect(threads()).toBe(before)
  })
})
