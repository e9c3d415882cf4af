import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { Readable } from "node:stream"
import { gzipSync } from "node:zlib"
import { afterEach, describe, expect, it } from "vitest"
import { applyLayer, applyLayers } from "../src/apply.js"
import { flatten } from "../src/flatten.js"
import { buildLayer, listLayer, memorySink, type Spec, tempDirs, treeListing } from "./diff-support.js"

const tmp = tempDirs()
afterEach(() => tmp.cleanup())

const stack: Spec[][] = [
  [
    { path: "bin", type: "directory", mode: 0o755 },
    { path: "bin/sh", type: "file", body: "#!busybox", mode: 0o755 },
    { path: "bin/ash", type: "hardlink", target: "bin/sh" },
    { path: "etc/passwd", type: "file", body: "root:x:0:0", xattrs: { "user.k": "v" } },
    { path: "tmp", type: "directory", mode: 0o1777 },
    { path: "tmp/junk", type: "file", body: "x".repeat(5000) },
    { path: "lib", type: "symlink", target: "usr/lib" }
  ],
  [
    { path: "tmp/junk", type: "whiteout" },
    { path: "etc/passwd", type: "file", body: "root:x:0:0\nuser:x:1000:1000" },
    { path: "usr/lib/libc.so", type: "file", body: "libc" },
    { path: "opt", type: "directory" },
    { path: "opt/a", type: "file", body: "a" }
  ],
  [
    { path: "opt", type: "opaque" },
    { path: "opt/b", type: "file", body: "b" },
    { path: "bin/sh", type: "file", body: "#!dash", mode: 0o755 }
  ]
]

describe("flatten", () => {
  it("gives one layer whose extraction equals applying the whole stack", async () => {
    const blobs = (await Promise.all(stack.map(buildLayer))).map((b, i) => (i === 1 ? gzipSync(b) : b))
    const out = join(tmp.make("out"), "flat.tar.gz")
    const res = await flatten(blobs.map((b) => () => Readable.from([b])), out)
    const entries = await listLayer(readFileSync(out))
    expect(entries.map((e) => `${e.header.type}:${e.path}`)).toEqual([
      "directory:bin",
      "directory:etc",
      "symlink:lib",
      "directory:opt",
      "directory:tmp",
      "directory:usr",
      "directory:usr/lib",
      "file:bin/ash",
      "file:etc/passwd",
      "file:usr/lib/libc.so",
      "file:opt/b",
      "file:bin/sh"
    ]) // directories and links in tree order, then surviving bodies layer by layer in tar order
    expect(entries.every((e) => !e.path.includes(".wh."))).toBe(true)

    const viaStack = tmp.make("stack")
    await applyLayers(blobs.map((b) => Readable.from([b])), viaStack)
    const viaFlat = tmp.make("flat")
    const applied = await applyLayer(out, viaFlat)
    expect(applied.diffId).toBe(res.diffId)
    // directories no layer has a header for get mtime "now" from an applier and 0 in the flat layer
    const implicit = /^(etc|usr|usr\/lib) d .*mtime=\d+$/u
    const norm = (rows: string[]) => rows.map((r) => (implicit.test(r) ? r.replace(/mtime=\d+$/u, "mtime=?") : r))
    expect(norm(treeListing(viaFlat, { mtime: true }))).toEqual(norm(treeListing(viaStack, { mtime: true })))
    expect(statSync(join(viaFlat, "tmp")).mode & 0o7777).toBe(0o1777)
  })

  it("keeps hardlinks that survive as hardlinks and is deterministic", async () => {
    const layers = [
      await buildLayer([
        { path: "a", type: "file", body: "shared" },
        { path: "b", type: "hardlink", target: "a" },
        { path: "c", type: "hardlink", target: "a" }
      ]),
      await buildLayer([{ path: "b", type: "whiteout" }])
    ]
    const run = async () => {
      const out = memorySink()
      const r = await flatten(layers.map((b) => () => Readable.from([b])), out.sink, { compression: "none" })
      return { r, blob: out.bytes() }
    }
    const one = await run()
    const two = await run()
    expect(one.blob.equals(two.blob)).toBe(true)
    const entries = await listLayer(one.blob)
    expect(entries.map((e) => `${e.header.type}:${e.path}:${e.header.linkpath.toString()}`)).toEqual(["file:a:", "hardlink:c:a"])
  })
})
