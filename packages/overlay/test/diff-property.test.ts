import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { Readable } from "node:stream"
import fc from "fast-check"
import { afterEach, describe, expect, it } from "vitest"
import { applyLayer } from "../src/apply.js"
import { changes, diffDirs } from "../src/diff.js"
import { buildLayer, layerArb, numRuns, propertyTimeout, tempDirs, treeListing } from "./diff-support.js"

const tmp = tempDirs()
afterEach(() => tmp.cleanup())

describe("diff round trip", () => {
  it("apply(diff(lower, upper)) onto a copy of lower gives upper, on random trees", async () => {
    await fc.assert(
      fc.asyncProperty(layerArb, layerArb, fc.constantFrom("none", "gzip") as fc.Arbitrary<"none" | "gzip">, async (base, change, compression) => {
        const lower = tmp.make("lower")
        await applyLayer(Readable.from([await buildLayer(base)]), lower)
        const upper = tmp.make("upper")
        execFileSync("cp", ["-a", `${lower}/.`, upper])
        await applyLayer(Readable.from([await buildLayer(change)]), upper)

        const layer = join(tmp.make("out"), "layer")
        await diffDirs(lower, upper, layer, { compression })
        const copy = tmp.make("copy")
        execFileSync("cp", ["-a", `${lower}/.`, copy])
        await applyLayer(layer, copy)
        expect(treeListing(copy, { mtime: true })).toEqual(treeListing(upper, { mtime: true }))
        // the same diff, listed: nothing when the trees are equal, something otherwise
        const listed = await changes(lower, upper)
        expect(listed.length === 0).toBe(treeListing(lower, { mtime: true }).join("\n") === treeListing(upper, { mtime: true }).join("\n"))
        tmp.cleanup()
      }),
      { numRuns: numRuns(25) }
    )
  }, propertyTimeout)
})
