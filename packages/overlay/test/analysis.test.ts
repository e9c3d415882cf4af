import { Readable } from "node:stream"
import { describe, expect, it } from "vitest"
import { analyzeLayers } from "../src/analysis.js"
import { buildLayer } from "./diff-support.js"

describe("analyzeLayers", () => {
  it("counts added, modified, deleted and wasted bytes per layer like dive", async () => {
    const layers = await Promise.all([
      buildLayer([
        { path: "app", type: "directory" },
        { path: "app/big.bin", type: "file", body: "B".repeat(1000) },
        { path: "app/conf", type: "file", body: "c".repeat(10) },
        { path: "app/keep", type: "file", body: "k".repeat(7) },
        { path: "app/alias", type: "hardlink", target: "app/keep" }
      ]),
      buildLayer([
        { path: "app/big.bin", type: "whiteout" },
        { path: "app/conf", type: "file", body: "C".repeat(20) },
        { path: "app/tmp", type: "file", body: "t".repeat(300) }
      ]),
      buildLayer([{ path: "app/tmp", type: "whiteout" }])
    ])
    const a = await analyzeLayers(layers.map((b) => () => Readable.from([b])))
    const pick = (i: number) => {
      const l = a.layers[i]!
      return [l.filesAdded, l.bytesAdded, l.filesModified, l.bytesModified, l.filesDeleted, l.bytesDeleted, l.bytes, l.bytesWasted]
    }
    expect(pick(0)).toEqual([4, 1017, 0, 0, 0, 0, 1017, 1010])
    expect(pick(1)).toEqual([1, 300, 1, 20, 1, 1000, 320, 300])
    expect(pick(2)).toEqual([0, 0, 0, 0, 1, 300, 0, 0])
    expect([a.totalBytes, a.finalBytes, a.wastedBytes]).toEqual([1337, 27, 1310])
    expect(a.efficiency).toBeCloseTo(27 / 1337)
  })

  it("reports an efficiency of 1 for a stack that shadows nothing", async () => {
    const a = await analyzeLayers([await buildLayer([{ path: "x", type: "file", body: "x" }])].map((b) => () => Readable.from([b])))
    expect([a.efficiency, a.wastedBytes, a.layers[0]?.filesAdded]).toEqual([1, 0, 1])
  })
})
