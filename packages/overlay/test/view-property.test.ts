import { execFileSync } from "node:child_process"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { Readable } from "node:stream"
import { buffer } from "node:stream/consumers"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { applyLayer, applyLayers } from "../src/apply.js"
import { flatten } from "../src/flatten.js"
import { MergedView } from "../src/view.js"
import { buildLayer, isRoot, memorySink, numRuns, propertyTimeout, stackArb, tempDirs, treeListing } from "./diff-support.js"

const tmp = tempDirs()
afterAll(() => tmp.cleanup())
if (!isRoot) console.warn("view-property: overlay mounts need root; the overlayfs comparison is skipped")

/** The merged view's tree in treeListing's format (symlinks are 0777 on Linux whatever the header says). */
async function viewListing(view: MergedView): Promise<string[]> {
  const rows: string[] = []
  for (const e of view.walk()) {
    const h = e.header
    const type = e.type === "directory" ? "d" : e.type === "file" ? "f" : e.type === "symlink" ? "l" : "?"
    const mode = e.type === "symlink" ? 0o777 : h.mode & 0o7777
    const extra =
      e.type === "file"
        ? `${h.size}:${(await buffer(view.readFile(e.path))).toString("base64")}`
        : e.type === "symlink"
          ? h.linkpath.toString()
          : ""
    const xattrs = [...h.xattrs].map(([k, v]) => `${k}=0x${v.toString("hex")};`).join("")
    rows.push(`${e.path.toString()} ${type} ${mode.toString(8)} ${h.uid}:${h.gid} ${extra} ${xattrs}`)
  }
  return rows
}

describe("merged view, flat apply and a real overlayfs mount agree", () => {
  it("on random layer stacks (files, dirs, symlinks, hardlinks, whiteouts, opaque dirs)", async () => {
    await fc.assert(
      fc.asyncProperty(stackArb, async (stack) => {
        const blobs = await Promise.all(stack.map(buildLayer))
        const view = await MergedView.build(blobs.map((b) => () => Readable.from([b])))
        const expected = await viewListing(view)

        const flat = tmp.make("flat")
        await applyLayers(blobs.map((b) => Readable.from([b])), flat)
        expect(treeListing(flat)).toEqual(expected)

        if (!isRoot) return
        const base = tmp.make("ovl")
        const dirs: string[] = []
        for (const [i, b] of blobs.entries()) {
          const d = join(base, `l${i}`)
          mkdirSync(d)
          await applyLayer(Readable.from([b]), d, { form: "overlay", overlay: { lowers: [...dirs].reverse() } })
          dirs.push(d)
        }
        const [upper, work, merged] = ["upper", "work", "merged"].map((d) => join(base, d)) as [string, string, string]
        for (const d of [upper, work, merged]) mkdirSync(d)
        const lowerdir = [...dirs].reverse().join(":")
        execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lowerdir},upperdir=${upper},workdir=${work}`, merged])
        try {
          expect(treeListing(merged)).toEqual(expected)
        } finally {
          execFileSync("umount", [merged])
        }
        tmp.cleanup()
      }),
      { numRuns: numRuns(25) }
    )
  }, propertyTimeout)

  it("and flatten's single layer extracts to the same tree as the whole stack, mtimes included", async () => {
    await fc.assert(
      fc.asyncProperty(stackArb, async (stack) => {
        const blobs = await Promise.all(stack.map(buildLayer))
        const flat = tmp.make("flat")
        await applyLayers(blobs.map((b) => Readable.from([b])), flat)
        const out = memorySink()
        await flatten(blobs.map((b) => () => Readable.from([b])), out.sink, { compression: "none" })
        const viaFlatten = tmp.make("flattened")
        await applyLayer(Readable.from([out.bytes()]), viaFlatten)
        expect(treeListing(viaFlatten, { mtime: true })).toEqual(treeListing(flat, { mtime: true }))
        tmp.cleanup()
      }),
      { numRuns: numRuns(15) }
    )
  }, propertyTimeout)
})
