import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { Writable } from "node:stream"
import { afterEach, describe, expect, it } from "vitest"
import { changes, changesUpper, diffDirs, diffUpper } from "../src/diff.js"
import { nativeZstdCompress } from "../src/diff-output.js"
import { UnsupportedUpperError, ZstdUnavailableError } from "../src/errors.js"
import { setXattrs } from "../src/xattr.js"
import { isRoot, listLayer, memorySink, sh, tarBytes, tempDirs } from "./diff-support.js"

const tmp = tempDirs()
afterEach(() => tmp.cleanup())

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`
const T0 = new Date("2024-01-01T00:00:00Z")

/** A small lower tree with fixed mtimes, and an identical copy to edit as the upper. */
function lowerAndUpper() {
  const lower = tmp.make("lower")
  mkdirSync(join(lower, "etc/conf.d"), { recursive: true })
  mkdirSync(join(lower, "var/cache/x"), { recursive: true })
  mkdirSync(join(lower, "wipe"))
  writeFileSync(join(lower, "etc/passwd"), "root:x:0:0\n")
  writeFileSync(join(lower, "etc/conf.d/a"), "AAAA")
  writeFileSync(join(lower, "etc/same"), "same")
  writeFileSync(join(lower, "var/cache/x/blob"), "cache")
  writeFileSync(join(lower, "wipe/one"), "1")
  writeFileSync(join(lower, "wipe/two"), "2")
  writeFileSync(join(lower, "becomes-dir"), "file")
  mkdirSync(join(lower, "becomes-file"))
  writeFileSync(join(lower, "becomes-file/inner"), "in")
  symlinkSync("passwd", join(lower, "etc/link"))
  sh("find . -exec touch -h -d @1704067200 {} +", lower)
  const upper = tmp.make("upper")
  sh(`cp -a ${lower}/. ${upper}/`)
  return { lower, upper }
}

describe("diffDirs / changes", () => {
  it("writes additions, modifications, whiteouts and opaque dirs, and lists them like docker diff", async () => {
    const { lower, upper } = lowerAndUpper()
    writeFileSync(join(upper, "etc/new"), "new file")
    writeFileSync(join(upper, "etc/conf.d/a"), "BBBB") // same size, mtime restored below: content decides
    utimesSync(join(upper, "etc/conf.d/a"), T0, T0)
    chmodSync(join(upper, "etc/passwd"), 0o600)
    sh("rm -rf var/cache && rm becomes-dir && mkdir becomes-dir && echo x > becomes-dir/f", upper)
    sh("rm -rf becomes-file && echo f > becomes-file", upper)
    sh("rm wipe/one wipe/two && echo 3 > wipe/three", upper)
    execFileSync("setfattr", ["-n", "user.note", "-v", "0x80ff00", join(upper, "etc/same")])
    writeFileSync(join(upper, "h1"), "hard")
    linkSync(join(upper, "h1"), join(upper, "h2"))
    sh("touch -h -d @1704067200 etc etc/conf.d . wipe", upper)

    const out = join(tmp.make("out"), "layer.tar.gz")
    const res = await diffDirs(lower, upper, out)
    const blob = readFileSync(out)
    expect(res.digest).toBe(sha(blob))
    expect(res.size).toBe(blob.length)
    expect(res.diffId).toBe(sha(tarBytes(blob)))
    expect(res.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip")

    const entries = await listLayer(blob)
    const names = entries.map((e) => `${e.header.type}:${e.path}`)
    expect(names).toEqual([
      "directory:becomes-dir",
      "file:becomes-dir/f",
      "file:becomes-file",
      "directory:etc",
      "directory:etc/conf.d",
      "file:etc/conf.d/a",
      "file:etc/new",
      "file:etc/passwd",
      "file:etc/same",
      "file:h1",
      "hardlink:h2",
      "directory:var",
      "file:var/.wh.cache",
      "directory:wipe",
      "file:wipe/.wh..wh..opq",
      "file:wipe/three"
    ])
    const byName = new Map(entries.map((e) => [e.path, e]))
    expect(byName.get("etc/conf.d/a")?.body.toString()).toBe("BBBB")
    expect(byName.get("etc/passwd")?.header.mode).toBe(0o600)
    expect(byName.get("etc/same")?.header.xattrs.get("user.note")?.toString("hex")).toBe("80ff00")
    expect(byName.get("h2")?.header.linkpath.toString()).toBe("h1")
    expect(byName.get("etc")?.header.mtime).toBe(1704067200)

    const listed = await changes(lower, upper)
    expect(listed.map((c) => `${c.kind} ${c.path}`)).toEqual([
      "C /becomes-dir",
      "A /becomes-dir/f",
      "C /becomes-file",
      "C /etc/conf.d/a",
      "A /etc/new",
      "C /etc/passwd",
      "C /etc/same",
      "A /h1",
      "A /h2",
      "C /var",
      "D /var/cache",
      "D /wipe/one",
      "A /wipe/three",
      "D /wipe/two"
    ])
  })

  it("writes byte-identical layers for identical trees, with SOURCE_DATE_EPOCH clamping mtimes", async () => {
    const { lower, upper } = lowerAndUpper()
    writeFileSync(join(upper, "etc/new"), "n") // mtime = now
    const collect = async (opts: Parameters<typeof diffDirs>[3]) => {
      const out = memorySink()
      const r = await diffDirs(lower, upper, out.sink, opts)
      return { r, blob: out.bytes() }
    }
    process.env.SOURCE_DATE_EPOCH = "1700000000"
    try {
      const a = await collect({ compression: "gzip" })
      const b = await collect({ compression: "gzip" })
      expect(a.blob.equals(b.blob)).toBe(true)
      expect(a.r.digest).toBe(b.r.digest)
      const entries = await listLayer(a.blob)
      expect(entries.every((e) => e.header.mtime <= 1700000000)).toBe(true)
      expect(entries.find((e) => e.path === "etc/new")?.header.mtime).toBe(1700000000)
    } finally {
      delete process.env.SOURCE_DATE_EPOCH
    }
    const fixed = await collect({ compression: "none", mtime: 42 })
    expect(fixed.r.diffId).toBe(fixed.r.digest)
    expect((await listLayer(fixed.blob)).map((e) => e.header.mtime)).toEqual([42, 42])
  })

  it("compresses with zstd and reports the diffID of the uncompressed tar", async () => {
    const { lower, upper } = lowerAndUpper()
    writeFileSync(join(upper, "z"), "zstd body ".repeat(100))
    const out = join(tmp.make("out"), "layer.tar.zst")
    const res = await diffDirs(lower, upper, out, { compression: "zstd" })
    const blob = readFileSync(out)
    expect(blob.readUInt32LE(0)).toBe(0xfd2fb528)
    expect(res.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd")
    expect(res.diffId).toBe(sha(tarBytes(blob)))
    expect(res.digest).toBe(sha(blob))
    expect(readdirSync(join(out, ".."))).toEqual(["layer.tar.zst"]) // no temp file left
  })

  it("rejects with LayerWriteError (no hang) when the output stream fails mid-layer", async () => {
    const { lower, upper } = lowerAndUpper()
    writeFileSync(join(upper, "big"), Buffer.alloc(4 << 20, 1))
    let seen = 0
    const failing = new Writable({
      write(c: Buffer, _e, cb) {
        seen += c.length
        cb(seen > 64 * 1024 ? new Error("ENOSPC: no space left on device") : null)
      }
    })
    const err = await diffDirs(lower, upper, failing, { compression: "none" }).catch((e: unknown) => e)
    expect((err as { _tag?: string })._tag).toBe("LayerWriteError")
    expect((err as Error).message).toContain("ENOSPC")
  })

  it("keeps odd names (0xff bytes, newline, backslash) and their xattrs byte-exact", async () => {
    const lower = tmp.make("lower")
    const upper = tmp.make("upper")
    const names = [Buffer.from([0x66, 0xff]), Buffer.from("nl\nname"), Buffer.from("back\\slash"), Buffer.from("sp ace")]
    for (const [i, n] of names.entries()) {
      const p = Buffer.concat([Buffer.from(`${upper}/`), n])
      writeFileSync(p, `body${i}`)
      // argv is UTF-8 in Node: set the xattrs through setfattr --restore, which takes raw bytes
      expect(setXattrs([{ path: p, xattrs: new Map([["user.i", Buffer.from([i, 0xff])]]) }])).toEqual([])
    }
    const entries = await listLayer(await toBuffer((s) => diffDirs(lower, upper, s, { compression: "none" })))
    const got = entries.map((e) => `${e.header.path.toString("hex")} ${e.body.toString()} ${e.header.xattrs.get("user.i")?.toString("hex")}`)
    const want = names
      .map((n, i) => ({ n, i }))
      .sort((a, b) => Buffer.compare(a.n, b.n))
      .map(({ n, i }) => `${n.toString("hex")} body${i} 0${i}ff`)
    expect(got).toEqual(want)
  })

  it.skipIf(nativeZstdCompress)("says what to install when zstd output has no encoder, before writing anything", async () => {
    const { lower, upper } = lowerAndUpper()
    const dir = tmp.make("out")
    const err = await diffDirs(lower, upper, join(dir, "l.tar.zst"), { compression: "zstd", zstdCommand: "/nonexistent/zstd" }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ZstdUnavailableError)
    expect((err as Error).message).toMatch(/apt-get install zstd/u)
    expect(readdirSync(dir)).toEqual([])
  })

  it("writes nothing under the destination name when the tree cannot be read", async () => {
    const dir = tmp.make("out")
    await expect(diffDirs(join(dir, "missing"), dir, join(dir, "l.tar"))).rejects.toMatchObject({ _tag: "XattrReadError" })
    expect(readdirSync(dir)).toEqual([])
  })
})

async function toBuffer(run: (sink: Writable) => Promise<unknown>) {
  const out = memorySink()
  await run(out.sink)
  return out.bytes()
}

describe("diffUpper", () => {
  it.skipIf(!isRoot)("turns whiteout devices and opaque xattrs into .wh. entries and drops overlay xattrs", async () => {
    const upper = tmp.make("upper")
    mkdirSync(join(upper, "opq"))
    writeFileSync(join(upper, "opq/kept"), "k")
    writeFileSync(join(upper, "file"), "data")
    execFileSync("mknod", [join(upper, "gone"), "c", "0", "0"])
    execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", join(upper, "opq")])
    execFileSync("setfattr", ["-n", "trusted.overlay.origin", "-v", "0x00fb", join(upper, "file")])
    execFileSync("setfattr", ["-n", "user.mine", "-v", "yes", join(upper, "file")])
    const blob = await toBuffer((s) => diffUpper(upper, s, { compression: "none" }))
    const entries = await listLayer(blob)
    expect(entries.map((e) => `${e.header.type}:${e.path}`)).toEqual([
      "file:file",
      "file:.wh.gone",
      "directory:opq",
      "file:opq/.wh..wh..opq",
      "file:opq/kept"
    ])
    const file = entries[0]!
    expect([...file.header.xattrs.keys()]).toEqual(["user.mine"])
    expect(entries.every((e) => [...e.header.xattrs.keys()].every((k) => !k.startsWith("trusted.overlay.")))).toBe(true)

    const listed = await changesUpper(upper, (p) => p.toString() === "file")
    expect(listed.map((c) => `${c.kind} ${c.path}`)).toEqual(["C /file", "D /gone", "A /opq", "A /opq/kept"])
  })

  it.skipIf(!isRoot)("rejects redirect_dir and metacopy uppers with the entry and the mount option to change", async () => {
    const upper = tmp.make("upper")
    mkdirSync(join(upper, "moved"))
    execFileSync("setfattr", ["-n", "trusted.overlay.redirect", "-v", "/orig", join(upper, "moved")])
    const err = await diffUpper(upper, new Writable({ write: (_c, _e, cb) => cb() })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnsupportedUpperError)
    expect((err as Error).message).toMatch(/"moved".*redirect_dir/u)
  })

  it.skipIf(!isRoot)("diffs the upper dir of a real overlay mount after deletes, renames and opaque recreation", async () => {
    const base = tmp.make("ovl")
    const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map((d) => join(base, d)) as [string, string, string, string]
    for (const d of [lower, upper, work, merged]) mkdirSync(d)
    mkdirSync(join(lower, "dir/sub"), { recursive: true })
    writeFileSync(join(lower, "dir/a"), "a")
    writeFileSync(join(lower, "dir/sub/b"), "b")
    writeFileSync(join(lower, "keep"), "keep")
    writeFileSync(join(lower, "del"), "del")
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged])
    try {
      sh("rm del && rm -rf dir && mkdir dir && echo new > dir/c && echo more >> keep", merged)
    } finally {
      execFileSync("umount", [merged])
    }
    const entries = await listLayer(await toBuffer((s) => diffUpper(upper, s, { compression: "gzip" })))
    expect(entries.map((e) => `${e.header.type}:${e.path}`)).toEqual([
      "file:.wh.del",
      "directory:dir",
      "file:dir/.wh..wh..opq",
      "file:dir/c",
      "file:keep"
    ])
    expect(entries.find((e) => e.path === "keep")?.body.toString()).toBe("keepmore\n")
  })

  it.skipIf(!isRoot)("reads user.overlay.* markers and xattr whiteouts for userxattr mounts, and skips sockets", async () => {
    const upper = tmp.make("upper")
    mkdirSync(join(upper, "d"))
    writeFileSync(join(upper, "d/wh"), "")
    writeFileSync(join(upper, "f"), "f")
    execFileSync("setfattr", ["-n", "user.overlay.opaque", "-v", "y", join(upper, "d")])
    execFileSync("setfattr", ["-n", "user.overlay.whiteout", "-v", "", join(upper, "d/wh")])
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(join(upper, "sock"), resolve))
    let skipped: string[] = []
    const blob = await toBuffer(async (s) => {
      skipped = (await diffUpper(upper, s, { compression: "none", xattrNamespace: "user" })).skipped
    }).finally(() => server.close())
    const entries = await listLayer(blob)
    expect(entries.map((e) => `${e.header.type}:${e.path}`)).toEqual(["directory:d", "file:d/.wh..wh..opq", "file:d/.wh.wh", "file:f"])
    expect(entries.every((e) => e.header.xattrs.size === 0)).toBe(true)
    expect(skipped).toEqual(['"sock"'])
  })
})
