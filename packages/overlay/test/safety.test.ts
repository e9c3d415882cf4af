// A catalog of hostile layers: each is rejected with an error naming the entry, or contained;
// in every case the canary directory beside the target stays exactly as it was.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { key, pathKey } from "../src/entryIO.js"
import { cleanComponents } from "../src/rootpath.js"
import {
  applyLayer,
  ApplyEntryError,
  DecompressionError,
  TarChecksumError,
  TarTruncatedError,
  UnsafeEntryError
} from "../src/index.js"
import { listTree, rowText } from "./listing.js"
import { chunked, entryBytes, type RawEntry, rawTar } from "./rawtar.js"

let base: string
let canary: string
let canaryListing: string[]
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "cairn-safety-"))
  canary = join(base, "canary")
  mkdirSync(join(canary, "sub"), { recursive: true })
  writeFileSync(join(canary, "secret"), "do not touch")
  writeFileSync(join(canary, "sub", "deep"), "deep")
  canaryListing = listTree(canary, { includeRoot: true }).map(rowText)
})
afterAll(() => rmSync(base, { recursive: true, force: true }))

type Outcome =
  | { reject: new (...args: never[]) => Error; mentions: string }
  | { contain: (root: string, warnings: string[]) => void }

interface Case {
  name: string
  layers: (canary: string) => Array<Buffer>
  rootless?: boolean
  outcome: Outcome
}

const t = (...entries: RawEntry[]) => rawTar(entries)
const noFile = (rel: string) => (root: string) => expect(existsSync(join(root, rel))).toBe(false)
const inRoot = (rel: string, content?: string) => (root: string) => {
  expect(lstatSync(join(root, rel)).isFile()).toBe(true)
  if (content !== undefined) expect(readFileSync(join(root, rel), "utf8")).toBe(content)
}

const cases: Case[] = [
  { name: "path traversal with ../", layers: () => [t({ name: "../canary/evil", body: "x" })], outcome: { contain: inRoot("canary/evil", "x") } },
  { name: "deep path traversal", layers: () => [t({ name: "a/../../../../../../tmp/evil", body: "x" })], outcome: { contain: inRoot("tmp/evil") } },
  { name: "absolute name", layers: (c) => [t({ name: `${c}/evil`, body: "x" })], outcome: { contain: (r) => inRoot(`${base}/canary/evil`.slice(1))(r) } },
  { name: "traversal in a PAX path", layers: () => [t({ name: "ok", body: "x", pax: [["path", "../../canary/secret"]] })], outcome: { contain: inRoot("canary/secret", "x") } },
  { name: "traversal in a GNU long name", layers: () => [t({ name: "ok", body: "x", gnuLongName: `../../${"d/".repeat(60)}evil`, magic: "gnu" })], outcome: { contain: inRoot(`${"d/".repeat(60)}evil`) } },
  {
    name: "relative symlink out, then a write through it (same layer)",
    layers: () => [t({ name: "l", type: "2", linkname: "../../canary" }, { name: "l/evil", body: "x" })],
    outcome: { contain: inRoot("canary/evil") }
  },
  {
    name: "absolute symlink to the canary, then a write through it (same layer)",
    layers: (c) => [t({ name: "l", type: "2", linkname: c }, { name: "l/secret", body: "pwned" })],
    outcome: { contain: (r) => inRoot(`${c_(r)}/secret`, "pwned")(r) }
  },
  {
    name: "symlink out in one layer, a write through it in the next",
    layers: (c) => [t({ name: "l", type: "2", linkname: c }), t({ name: "l/sub/deep", body: "pwned" })],
    outcome: { contain: (r) => inRoot(`${c_(r)}/sub/deep`, "pwned")(r) }
  },
  {
    name: "symlink chain with .. out of a subdirectory",
    layers: () => [t({ name: "d/", type: "5" }, { name: "d/l", type: "2", linkname: "../../../../canary" }, { name: "d/l/evil", body: "x" })],
    outcome: { contain: inRoot("canary/evil") }
  },
  {
    name: "a file entry over a symlink to a host file replaces the link",
    layers: (c) => [t({ name: "f", type: "2", linkname: `${c}/secret` }), t({ name: "f", body: "pwned" })],
    outcome: { contain: (r) => expect(lstatSync(join(r, "f")).isFile()).toBe(true) }
  },
  {
    name: "a directory entry over a symlink to a host dir replaces the link",
    layers: (c) => [t({ name: "d", type: "2", linkname: c }), t({ name: "d/", type: "5", mode: 0o777 })],
    outcome: { contain: (r) => expect(lstatSync(join(r, "d")).isDirectory()).toBe(true) }
  },
  {
    // xattrs and directory times are set after the last entry, by the paths their entries had
    name: "xattrs and a directory's times below a directory a later entry replaces with a symlink out",
    layers: (c) => [
      t(
        { name: "x/", type: "5", mtime: 1_000_000_000 },
        { name: "x/sub/", type: "5", mode: 0o700, mtime: 1_000_000_000 },
        { name: "x/sub/deep", body: "layer", pax: [["SCHILY.xattr.user.evil", "1"]] },
        { name: "x", type: "2", linkname: c }
      )
    ],
    outcome: { contain: (r) => expect(lstatSync(join(r, "x")).isSymbolicLink()).toBe(true) }
  },
  {
    // a lower directory a layer adds to keeps its times, restored after the last entry by path
    name: "a lower directory's restored times, after a later entry replaced its parent with a symlink out",
    layers: (c) => [t({ name: "x/sub/", type: "5", mtime: 1_000_000_000 }), t({ name: "x/sub/new", body: "n" }, { name: "x", type: "2", linkname: c })],
    outcome: { contain: (r) => expect(lstatSync(join(r, "x")).isSymbolicLink()).toBe(true) }
  },
  { name: "hardlink out with ../", layers: () => [t({ name: "h", type: "1", linkname: "../canary/secret" })], outcome: { reject: UnsafeEntryError, mentions: '"h"' } },
  { name: "hardlink to an absolute host path", layers: (c) => [t({ name: "h", type: "1", linkname: `${c}/secret` })], outcome: { reject: UnsafeEntryError, mentions: '"h"' } },
  {
    name: "hardlink through a symlink out",
    layers: (c) => [t({ name: "s", type: "2", linkname: c }, { name: "h", type: "1", linkname: "s/secret" })],
    outcome: { reject: UnsafeEntryError, mentions: '"h"' }
  },
  {
    name: "hardlink to a symlink that points out links the symlink itself",
    layers: (c) => [t({ name: "s", type: "2", linkname: `${c}/secret` }, { name: "h", type: "1", linkname: "s" }), t({ name: "h", body: "pwned" })],
    outcome: { contain: (r) => expect(readFileSync(join(r, "h"), "utf8")).toBe("pwned") }
  },
  { name: "whiteout with ..", layers: () => [t({ name: "a/", type: "5" }), t({ name: "a/.wh..", body: "" })], outcome: { reject: UnsafeEntryError, mentions: "a/.wh.." } },
  { name: "whiteout climbing with ../", layers: () => [t({ name: "../../.wh.canary", body: "" })], outcome: { contain: noFile("canary") } },
  {
    name: "whiteout through a symlink to the host",
    layers: (c) => [t({ name: "s", type: "2", linkname: c }), t({ name: "s/.wh.secret", body: "" }, { name: "s/.wh.sub", body: "" })],
    outcome: { contain: () => {} }
  },
  { name: "opaque marker at the root", layers: () => [t({ name: "a", body: "a" }), t({ name: ".wh..wh..opq", body: "" })], outcome: { contain: noFile("a") } },
  {
    name: "opaque marker below a symlink to the host",
    layers: (c) => [t({ name: "s", type: "2", linkname: `${c}/..` }), t({ name: "s/.wh..wh..opq", body: "" })],
    outcome: { contain: () => {} }
  },
  { name: "opaque marker with a traversal", layers: () => [t({ name: "x", body: "x" }), t({ name: "../../../.wh..wh..opq", body: "" })], outcome: { contain: noFile("x") } },
  { name: "opaque marker as a directory entry", layers: () => [t({ name: "d/.wh..wh..opq/", type: "5" }, { name: "d/f", body: "f" })], outcome: { contain: inRoot("d/f") } },
  {
    name: "device nodes when rootless are skipped with a warning",
    rootless: true,
    layers: () => [t({ name: "dev/mem", type: "3", devmajor: 1, devminor: 1 }, { name: "dev/sda", type: "4", devmajor: 8, devminor: 0 })],
    outcome: {
      contain: (r, w) => {
        expect(existsSync(join(r, "dev/mem"))).toBe(false)
        expect(w.join("\n")).toContain("dev/mem")
        expect(w.join("\n")).toContain("dev/sda")
      }
    }
  },
  { name: "truncated tar", layers: () => [rawTar([{ name: "big/file", body: Buffer.alloc(10000, 1) }]).subarray(0, 3000)], outcome: { reject: TarTruncatedError, mentions: "big/file" } },
  {
    name: "truncated gzip",
    layers: () => {
      const gz = gzipSync(rawTar([{ name: "f", body: Buffer.alloc(100000, 7) }]))
      return [gz.subarray(0, gz.length - 20)]
    },
    outcome: { reject: DecompressionError, mentions: "gzip" }
  },
  {
    name: "a 100 GB size header on a short stream",
    layers: () => [Buffer.concat([entryBytes({ name: "huge", size: 100 * 1024 ** 3, base256Size: true }).subarray(0, 512), Buffer.alloc(1 << 20)])],
    outcome: { reject: TarTruncatedError, mentions: "huge" }
  },
  { name: "NUL byte in a PAX path", layers: () => [t({ name: "x", body: "x", pax: [["path", Buffer.from("a\0/../../canary/evil")]] })], outcome: { reject: UnsafeEntryError, mentions: "NUL" } },
  {
    name: "non-UTF-8 name with traversal",
    layers: () => [t({ name: "x", body: "x", pax: [["path", Buffer.from([0x2e, 0x2e, 0x2f, 0xff, 0x2f, 0x2e, 0x2e, 0x2f, 0x2e, 0x2e, 0x2f, 0x65, 0x76, 0x69, 0x6c])]] })],
    outcome: { contain: inRoot("evil", "x") }
  },
  {
    name: "symlink loop",
    layers: () => [t({ name: "a", type: "2", linkname: "b" }, { name: "b", type: "2", linkname: "a" }, { name: "a/x", body: "x" })],
    outcome: { reject: UnsafeEntryError, mentions: "a/x" }
  },
  { name: "a file as the root", layers: () => [t({ name: ".", body: "x" })], outcome: { reject: UnsafeEntryError, mentions: "root" } },
  { name: "a write below a regular file", layers: () => [t({ name: "f", body: "f" }, { name: "f/x", body: "x" })], outcome: { reject: ApplyEntryError, mentions: "f/x" } },
  { name: "bad header checksum", layers: () => [t({ name: "evil", body: "x", checksum: 7 })], outcome: { reject: TarChecksumError, mentions: "evil" } },
  {
    name: "a directory entry named ../canary with mode 0777",
    layers: () => [t({ name: "../canary/", type: "5", mode: 0o777 }, { name: "../canary/sub/", type: "5", mode: 0o777 })],
    outcome: { contain: (r) => expect(lstatSync(join(r, "canary/sub")).mode & 0o777).toBe(0o777) }
  }
]

// The canary's absolute path as it appears inside the root (a host path taken as root-relative).
const c_ = (_root: string) => canary.slice(1)

describe("hostile layers", () => {
  it("has at least 25 cases", () => expect(cases.length).toBeGreaterThanOrEqual(25))

  for (const [i, c] of cases.entries()) {
    it(`${"reject" in c.outcome ? "rejects" : "contains"}: ${c.name}`, async () => {
      const root = join(base, `root${i}`)
      mkdirSync(root)
      try {
        let error: unknown
        const warnings: string[] = []
        try {
          for (const l of c.layers(canary)) {
            const r = await applyLayer(chunked(l, 4096), root, c.rootless ? { rootless: true } : {})
            warnings.push(...r.warnings.map((w) => `${w.path}: ${w.reason}`))
          }
        } catch (e) {
          error = e
        }
        if ("reject" in c.outcome) {
          expect(error).toBeInstanceOf(c.outcome.reject)
          expect((error as Error).message).toContain(c.outcome.mentions)
        } else {
          if (error) throw error
          c.outcome.contain(root, warnings)
        }
        expect(listTree(canary, { includeRoot: true }).map(rowText)).toEqual(canaryListing)
        expect(readdirSync(base).sort()).toEqual(["canary", `root${i}`])
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    })
  }
})

describe("path keys", () => {
  it("a path's key is always its cleaned components' key, however unclean the path", () => {
    const part = fc.constantFrom("a", "b", "bin", ".", "..", "", ".wh.x", "...", "é")
    fc.assert(
      fc.property(fc.boolean(), fc.array(part, { maxLength: 8 }), (rooted, parts) => {
        const path = Buffer.from(`${rooted ? "/" : ""}${parts.join("/")}`, "latin1")
        const clean = cleanComponents(path)
        expect(pathKey(path, clean)).toBe(key(clean))
      }),
      { numRuns: 2000 }
    )
  })
})
