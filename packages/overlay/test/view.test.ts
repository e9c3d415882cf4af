import { Readable } from "node:stream"
import { text } from "node:stream/consumers"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { Effect } from "effect"
import { LayerSourceError, ViewPathError } from "../src/errors.js"
import { MergedView } from "../src/view.js"
import { buildLayer, type Spec } from "./diff-support.js"

const sources = async (layers: Spec[][], gzip = false) => {
  const blobs = await Promise.all(layers.map(buildLayer))
  return blobs.map((b) => () => Readable.from([gzip ? gzipSync(b) : b]))
}
const paths = (v: MergedView) => [...v.walk()].map((e) => `${e.path.toString()}${e.type === "directory" ? "/" : ""}@${e.layer}`)

describe("MergedView", () => {
  it("applies whiteouts and opaque markers to lower layers only, from headers alone", async () => {
    const v = await MergedView.build(
      await sources([
        [
          { path: "etc", type: "directory" },
          { path: "etc/a", type: "file", body: "a0" },
          { path: "etc/b", type: "file", body: "b0" },
          { path: "opq", type: "directory" },
          { path: "opq/old", type: "file", body: "old" },
          { path: "opq/sub/deep", type: "file", body: "deep" }
        ],
        [
          { path: "etc/a", type: "whiteout" },
          { path: "etc/c", type: "file", body: "c1" },
          { path: "etc/c", type: "whiteout" }, // never deletes what the same layer adds
          { path: "opq", type: "opaque" },
          { path: "opq/new", type: "file", body: "new" }
        ]
      ])
    )
    expect(paths(v)).toEqual(["etc/@0", "etc/b@0", "etc/c@1", "opq/@0", "opq/new@1"])
    expect(v.stat("/etc/a")).toBeUndefined()
    expect(v.readdir("opq").map(String)).toEqual(["new"])
  })

  it("replaces a directory by a file (dropping its subtree) and a file by a directory", async () => {
    const v = await MergedView.build(
      await sources([
        [
          { path: "d/x", type: "file", body: "x" },
          { path: "f", type: "file", body: "f" }
        ],
        [
          { path: "d", type: "file", body: "now a file" },
          { path: "f/inner", type: "file", body: "i" }
        ]
      ])
    )
    expect(paths(v)).toEqual(["d@1", "f/@1", "f/inner@1"])
    expect(v.stat("f")?.implicit).toBe(true)
    expect(await text(v.readFile("d"))).toBe("now a file")
  })

  it("reads file bodies from the layer that provides them, through symlinks and hardlinks", async () => {
    const v = await MergedView.build(
      await sources(
        [
          [
            { path: "usr/lib/libz.so", type: "file", body: "zlib v1", mode: 0o755 },
            { path: "lib", type: "symlink", target: "usr/lib" },
            { path: "hl", type: "hardlink", target: "usr/lib/libz.so" },
            { path: "hl-to-link", type: "hardlink", target: "lib" }
          ],
          [
            { path: "usr/lib/libz.so", type: "file", body: "zlib v2 (longer)" },
            { path: "abs", type: "symlink", target: "/../../lib/libz.so" }
          ]
        ],
        true
      )
    )
    expect(await text(v.readFile("/lib/libz.so"))).toBe("zlib v2 (longer)")
    expect(await text(v.readFile("abs"))).toBe("zlib v2 (longer)")
    // the hardlink keeps the inode of layer 0, which layer 1 replaced at the other name
    const hl = v.stat("hl")
    expect([hl?.type, hl?.header.mode, hl?.content?.layer]).toEqual(["file", 0o755, 0])
    expect(await text(v.readFile("hl"))).toBe("zlib v1")
    expect(v.stat("lib")?.type).toBe("symlink")
    expect(v.stat("hl-to-link")?.header.linkpath.toString()).toBe("usr/lib") // a hardlinked symlink is that symlink
    expect(v.statFollow("lib")?.type).toBe("directory")
    expect(v.stat("usr/lib/libz.so")?.header.size).toBe(16)
  })

  it("writes through a symlinked parent to its target inside the view, as appliers do", async () => {
    const v = await MergedView.build(
      await sources([
        [
          { path: "real", type: "directory" },
          { path: "link", type: "symlink", target: "/real" }
        ],
        [{ path: "link/file", type: "file", body: "via link" }]
      ])
    )
    expect(paths(v)).toEqual(["link@0", "real/@0", "real/file@1"])
  })

  it("fails with ViewPathError naming the path for missing entries and wrong types", async () => {
    const v = await MergedView.build(await sources([[{ path: "f", type: "file", body: "x" }]]))
    expect(() => v.readdir("nope")).toThrow(ViewPathError)
    expect(() => v.readdir("f")).toThrow(/"f": not a directory/u)
    expect(() => v.readFile("/")).toThrow(/not a regular file/u)
  })

  it("fails with a typed error naming the layer when a source or its bytes are bad", async () => {
    const good = await buildLayer([{ path: "f", type: "file", body: "x".repeat(2000) }])
    const missing = () => {
      throw new Error("ENOENT: no such blob")
    }
    const err = await MergedView.build([() => Readable.from([good]), missing]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LayerSourceError)
    expect((err as LayerSourceError).layer).toBe(1)
    const truncated = await Effect.runPromise(Effect.flip(MergedView.buildEffect([() => Readable.from([good.subarray(0, 1000)])])))
    expect(truncated._tag).toBe("TarTruncatedError")
  })

  it("does not follow a lower symlink to apply a whiteout or an opaque marker below it", async () => {
    const v = await MergedView.build(
      await sources([
        [
          { path: "a", type: "symlink", target: "x" },
          { path: "b", type: "symlink", target: "x" },
          { path: "x", type: "directory" },
          { path: "x/x", type: "file", body: "kept" },
          { path: "x/y", type: "file", body: "kept" }
        ],
        [
          { path: "a", type: "directory" },
          { path: "a/x", type: "whiteout" },
          { path: "b", type: "directory" },
          { path: "b", type: "opaque" }
        ]
      ])
    )
    expect(paths(v)).toEqual(["a/@1", "b/@1", "x/@0", "x/x@0", "x/y@0"])
  })
})
