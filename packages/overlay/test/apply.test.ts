import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { digestBytes, nodeBackend, type Digest } from "@cairn/digest"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  applyLayer,
  applyLayerEffect,
  applyLayers,
  DiffIdMismatchError,
  LayerDigestMismatchError,
  LowersNeededError,
  rootlessOwnerXattr,
  settleImplicitDirs
} from "../src/index.js"
import { listTree, xattrTree } from "./listing.js"
import { chunked, type RawEntry, rawTar } from "./rawtar.js"

const isRoot = process.geteuid?.() === 0
if (!isRoot) console.warn("not root: ownership, device and trusted.* xattr tests are skipped")
const CAP_SETUID = Buffer.from("0100000280000000000000000000000000000000", "hex")

let dir: string
let target: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-apply-"))
  target = join(dir, "root")
  mkdirSync(target)
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const layer = (entries: RawEntry[]) => chunked(rawTar(entries), 4096)
const p = (...s: string[]) => join(target, ...s)

describe("applyLayer", () => {
  it.skipIf(!isRoot)("gives files the tar's owner and mode whatever the parent's group, setgid bit and the umask", async () => {
    // Files whose owner is the process's are created with their final mode and no chown: a parent
    // directory whose group differs (setgid, or a grpid mount) or a mode the umask narrows must still come out right.
    mkdirSync(p("pre"))
    execFileSync("chown", ["0:50", p("pre")])
    execFileSync("chmod", ["2775", p("pre")])
    const big = randomBytes(70_000)
    await applyLayer(
      layer([
        { name: "pre/a", body: "a", mode: 0o644, mtime: 1000 },
        { name: "pre/b", body: big, mode: 0o666, mtime: 1001 },
        { name: "g/", type: "5", mode: 0o2755, gid: 60, mtime: 7 },
        { name: "g/c", body: "", mode: 0o600, mtime: 1002 },
        { name: "g/d", body: "d", mode: 0o640, gid: 60, mtime: 1003 },
        { name: "h/", type: "5", mode: 0o755, mtime: 8 },
        { name: "h/e", body: "e", mode: 0o777, mtime: 1004 }
      ]),
      target
    )
    const own = (f: string) => {
      const st = lstatSync(p(f))
      return [st.mode & 0o7777, st.uid, st.gid, st.mtimeMs]
    }
    expect(own("pre/a")).toEqual([0o644, 0, 0, 1000_000])
    expect(own("pre/b")).toEqual([0o666, 0, 0, 1001_000])
    expect(readFileSync(p("pre/b")).equals(big)).toBe(true)
    expect(own("g")).toEqual([0o2755, 0, 60, 7000])
    expect(own("g/c")).toEqual([0o600, 0, 0, 1002_000])
    expect(own("g/d")).toEqual([0o640, 0, 60, 1003_000])
    expect(own("h/e")).toEqual([0o777, 0, 0, 1004_000])
  })

  it.skipIf(!isRoot)("creates every entry kind with mode, owner, times and xattrs", async () => {
    const r = await applyLayer(
      layer([
        { name: "etc/", type: "5", mode: 0o755, mtime: 1000 },
        { name: "etc/passwd", body: "root\n", mode: 0o4755, uid: 1000, gid: 1001, mtime: 2000 },
        { name: "etc/cap", body: "c", mode: 0o755, pax: [["SCHILY.xattr.security.capability", CAP_SETUID], ["SCHILY.xattr.user.note", "hi"]] },
        { name: "etc/sl", type: "2", linkname: "passwd", uid: 5, gid: 6, mtime: 3000 },
        { name: "etc/hl", type: "1", linkname: "etc/passwd" },
        { name: "dev/null", type: "3", devmajor: 1, devminor: 3, mode: 0o666 },
        { name: "dev/loop0", type: "4", devmajor: 7, devminor: 0, mode: 0o660 },
        { name: "run/fifo", type: "6", mode: 0o600 },
        { name: "tmp/", type: "5", mode: 0o1777, mtime: 4000 },
        { name: "tmp/x", body: "x", mode: 0o2640, mtime: 5000 }
      ]),
      target
    )
    expect(r.entries).toBe(10)
    expect(r.warnings).toEqual([])
    const st = lstatSync(p("etc/passwd"))
    expect([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs]).toEqual([0o4755, 1000, 1001, 2000_000])
    expect(readFileSync(p("etc/passwd"), "utf8")).toBe("root\n")
    expect(lstatSync(p("etc/hl")).ino).toBe(st.ino)
    expect(readlinkSync(p("etc/sl"))).toBe("passwd")
    const sl = lstatSync(p("etc/sl"))
    expect([sl.uid, sl.gid, sl.mtimeMs]).toEqual([5, 6, 3000_000])
    expect(lstatSync(p("dev/null")).isCharacterDevice()).toBe(true)
    expect(lstatSync(p("dev/null")).rdev).toBe(259)
    expect(lstatSync(p("dev/loop0")).isBlockDevice()).toBe(true)
    expect(lstatSync(p("run/fifo")).isFIFO()).toBe(true)
    expect(lstatSync(p("tmp")).mode & 0o7777).toBe(0o1777)
    expect(lstatSync(p("tmp")).mtimeMs).toBe(4000_000) // after its child was written
    expect(lstatSync(p("etc")).mtimeMs).toBe(1000_000)
    expect(lstatSync(p("tmp/x")).mode & 0o7777).toBe(0o2640)
    const xs = xattrTree(target).get(p("etc/cap"))!
    expect(xs.get("security.capability")).toBe(`0x${CAP_SETUID.toString("hex")}`)
    expect(xs.get("user.note")).toBe("0x6869")
  })

  it("returns the diffID and the compressed digest, and checks expected values", async () => {
    const tar = rawTar([{ name: "a", body: "hello" }])
    const gz = gzipSync(tar)
    const diffId = await digestBytes(tar)
    const digest = await digestBytes(gz)
    const r = await applyLayer(chunked(gz), target, { computeDigest: true, hasher: nodeBackend })
    expect(r).toMatchObject({ diffId, digest, compression: "gzip", size: gz.length, tarSize: tar.length, entries: 1 })
    const wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000" as Digest
    const e1 = await applyLayer(chunked(gz), join(dir, "root"), { expectedDiffId: wrong }).catch((e) => e)
    expect(e1).toBeInstanceOf(DiffIdMismatchError)
    expect(e1.actual).toBe(diffId)
    const e2 = await applyLayer(chunked(gz), target, { expectedDigest: wrong }).catch((e) => e)
    expect(e2).toBeInstanceOf(LayerDigestMismatchError)
    const plain = await applyLayer(chunked(tar), target, { computeDigest: true })
    expect(plain.digest).toBe(diffId)
    expect(plain.diffId).toBe(diffId)
  })

  it("hashes on a worker thread when asked, with the same digests", async () => {
    const tar = rawTar([{ name: "a", body: Buffer.alloc(3 << 20, 3) }, { name: "b", body: "b" }])
    const gz = gzipSync(tar)
    const r = await applyLayer(chunked(gz, 65536), target, { hashOffThread: true, computeDigest: true })
    expect(r).toMatchObject({ diffId: await digestBytes(tar), digest: await digestBytes(gz), tarSize: tar.length, entries: 2 })
    const plain = await applyLayer(chunked(tar, 65536), join(dir, "plain"), { hashOffThread: true, computeDigest: true, hasher: nodeBackend })
    expect(plain.digest).toBe(plain.diffId)
    const wrong = "sha256:2222222222222222222222222222222222222222222222222222222222222222" as Digest
    const e = await applyLayer(chunked(gz), join(dir, "w"), { hashOffThread: true, expectedDiffId: wrong }).catch((x) => x)
    expect(e).toBeInstanceOf(DiffIdMismatchError)
    const eBlob = await applyLayer(chunked(gz), join(dir, "wb"), { hashOffThread: true, expectedDigest: wrong }).catch((x) => x)
    expect(eBlob).toBeInstanceOf(LayerDigestMismatchError)
    expect(eBlob.actual).toBe(await digestBytes(gz))
  })

  it("hashes big layer files on a worker by default, through many turns of its ring, with the same digests", async () => {
    // 24 MiB of incompressible bytes: the blob and the tar stream each pass ~24 MiB through their worker's 4 MiB ring
    const tar = rawTar([{ name: "big", body: randomBytes(24 << 20) }, { name: "small", body: "s" }])
    const gz = gzipSync(tar, { level: 1 })
    const f = join(dir, "big.tar.gz")
    writeFileSync(f, gz)
    const want = { diffId: await digestBytes(tar), digest: await digestBytes(gz), tarSize: tar.length, entries: 2 }
    const byDefault = await applyLayer(f, join(dir, "default"), { computeDigest: true })
    expect(byDefault).toMatchObject(want)
    const onThread = await applyLayer(f, join(dir, "on-thread"), { computeDigest: true, hashOffThread: false })
    expect(onThread).toMatchObject(want)
    expect(readFileSync(join(dir, "default/big")).equals(readFileSync(join(dir, "on-thread/big")))).toBe(true)
  })

  it("overlay form: a parent a layer does not list keeps the lower directory's mode, owner and mtime", async () => {
    const lower = join(dir, "lower")
    await applyLayer(chunked(rawTar([{ name: "tmp/", type: "5", mode: 0o1777, uid: 7, gid: 8, mtime: 1_400_000_000 }])), lower, {
      form: "overlay"
    })
    const upper = join(dir, "upper")
    // only tmp/new is in the layer: tmp/ itself is an implicit parent
    await applyLayer(chunked(rawTar([{ name: "tmp/new", body: "x" }])), upper, { form: "overlay", overlay: { lowers: [lower] } })
    const st = lstatSync(join(upper, "tmp"))
    expect(st.mode & 0o7777).toBe(0o1777)
    expect([st.uid, st.gid]).toEqual([7, 8])
    expect(Math.round(st.mtimeMs / 1000)).toBe(1_400_000_000)
    // without lowers (flat form or a base layer) an implicit parent is 0755, as umoci's MkdirAll
    const base = join(dir, "base")
    await applyLayer(chunked(rawTar([{ name: "srv/x", body: "x" }])), base, { form: "overlay" })
    expect(lstatSync(join(base, "srv")).mode & 0o7777).toBe(0o755)
  })

  it("overlay form, lowers later: the parents a layer does not list are named, and settled afterwards as the lowers would have made them", async () => {
    const lower = join(dir, "lower")
    await applyLayer(
      chunked(
        rawTar([
          { name: "tmp/", type: "5", mode: 0o1777, uid: 7, gid: 8, mtime: 1_400_000_000 },
          { name: "a/", type: "5", mode: 0o711, uid: 3, gid: 4, mtime: 1_300_000_000 },
          { name: "a/b/", type: "5", mode: 0o701, uid: 5, gid: 6, mtime: 1_200_000_000 },
          { name: "etc/", type: "5", mode: 0o700, mtime: 1_100_000_000 },
          { name: "bin/busybox", body: "bb", mode: 0o755 }
        ])
      ),
      lower,
      { form: "overlay" }
    )
    // tmp, a, a/b and srv are implicit parents; etc/ has an entry of its own (after its child); bin/sh links within the layer
    const entries: RawEntry[] = [
      { name: "tmp/new", body: "x" },
      { name: "a/b/c", body: "c" },
      { name: "etc/conf", body: "conf" },
      { name: "etc/", type: "5", mode: 0o750, mtime: 1_000_000_000 },
      { name: "srv/x", body: "x" },
      { name: "bin/own", body: "own" },
      { name: "bin/sh", type: "1", linkname: "bin/own" }
    ]
    const withLowers = join(dir, "with-lowers")
    await applyLayer(chunked(rawTar(entries)), withLowers, { form: "overlay", overlay: { lowers: [lower] } })
    const later = join(dir, "later")
    const r = await applyLayer(chunked(rawTar(entries)), later, { form: "overlay", overlay: { lowersLater: true } })
    expect(r.implicitDirs?.map((c) => c.map((b) => b.toString()).join("/"))).toEqual(["tmp", "a", "a/b", "srv", "bin"])
    // before settling, an implicit parent is 0755 root's
    expect(lstatSync(join(later, "tmp")).mode & 0o7777).toBe(0o755)
    settleImplicitDirs(later, [lower], r.implicitDirs!, isRoot)
    const meta = (root: string, path: string) => {
      const st = lstatSync(join(root, path))
      return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.round(st.mtimeMs / 1000) }
    }
    for (const path of ["tmp", "a", "a/b", "etc", "bin", "tmp/new", "a/b/c", "bin/sh"]) expect(meta(later, path), path).toEqual(meta(withLowers, path))
    // srv is in no lower: made when srv/x was written, its mtime is each extraction's own now
    // (rounded to a second, two extractions a few ms apart could straddle one)
    const { mtime: _l, ...srvLater } = meta(later, "srv")
    const { mtime: _w, ...srvWithLowers } = meta(withLowers, "srv")
    expect(srvLater).toEqual(srvWithLowers)
    expect(meta(later, "tmp")).toMatchObject({ mode: 0o1777, mtime: 1_400_000_000, ...(isRoot ? { uid: 7, gid: 8 } : {}) })
    expect(meta(later, "a/b")).toMatchObject({ mode: 0o701, mtime: 1_200_000_000 })
    expect(meta(later, "etc")).toMatchObject({ mode: 0o750, mtime: 1_000_000_000 })
  })

  it("overlay form, lowers later: a hardlink to a file the layer does not hold fails with LowersNeededError", async () => {
    const r = applyLayer(layer([{ name: "bin/sh", type: "1", linkname: "bin/busybox" }]), target, { form: "overlay", overlay: { lowersLater: true } })
    await expect(r).rejects.toBeInstanceOf(LowersNeededError)
    await expect(r).rejects.toMatchObject({ path: '"bin/sh"', linkpath: '"bin/busybox"' })
  })

  it("settling implicit parents never follows a symlink the layer put where one of them was", async () => {
    const lower = join(dir, "lower")
    await applyLayer(
      layer([
        { name: "x/", type: "5", mode: 0o711, mtime: 1_300_000_000 },
        { name: "x/y/", type: "5", mode: 0o700, mtime: 1_200_000_000 }
      ]),
      lower,
      { form: "overlay" }
    )
    const outside = join(dir, "outside")
    mkdirSync(join(outside, "y"), { recursive: true, mode: 0o755 })
    const before = lstatSync(join(outside, "y"))
    // x and x/y are made as parents of x/y/f, then x becomes a symlink to a directory outside the target
    const r = await applyLayer(layer([{ name: "x/y/f", body: "f" }, { name: "x", type: "2", linkname: outside }]), target, {
      form: "overlay",
      overlay: { lowersLater: true }
    })
    expect(r.implicitDirs?.map((c) => c.map((b) => b.toString()).join("/"))).toEqual(["x", "x/y"])
    settleImplicitDirs(target, [lower], r.implicitDirs!, isRoot)
    const after = lstatSync(join(outside, "y"))
    expect([after.mode, after.mtimeMs]).toEqual([before.mode, before.mtimeMs])
    expect(lstatSync(join(target, "x")).isSymbolicLink()).toBe(true)
  })

  it("applies zstd layers with the fzstd decoder and from a file path", async () => {
    const tar = rawTar([{ name: "z/file", body: "zstd body" }])
    const f = join(dir, "layer.tar.zst")
    writeFileSync(f, execFileSync("zstd", ["-q", "-c"], { input: tar }))
    const r = await applyLayer(f, target, { zstd: "fzstd" })
    expect(r.compression).toBe("zstd")
    expect(r.diffId).toBe(await digestBytes(tar))
    expect(readFileSync(p("z/file"), "utf8")).toBe("zstd body")
  })

  it("writes non-UTF-8 names and link targets byte for byte", async () => {
    const name = Buffer.from([0x6e, 0xe9, 0xff]) // "n\xe9\xff"
    await applyLayer(
      layer([
        { name: "x", body: "1", pax: [["path", Buffer.concat([Buffer.from("d/"), name])]] },
        { name: "l", type: "2", pax: [["linkpath", name]] }
      ]),
      target
    )
    const abs = Buffer.concat([Buffer.from(p("d")), Buffer.from("/"), name])
    expect(readFileSync(abs, "utf8")).toBe("1")
    expect(readlinkSync(p("l"), { encoding: "buffer" }).equals(name)).toBe(true)
  })

  it("hardlinks to a file that a lower layer put there", async () => {
    await applyLayers([layer([{ name: "bin/busybox", body: "bb", mode: 0o755 }]), layer([{ name: "bin/sh", type: "1", linkname: "bin/busybox" }])], target)
    expect(lstatSync(p("bin/sh")).ino).toBe(lstatSync(p("bin/busybox")).ino)
  })

  it("removes lower entries named by whiteouts, but never what the same layer adds", async () => {
    await applyLayers(
      [
        layer([{ name: "a/keep", body: "k" }, { name: "a/gone", body: "g" }, { name: "a/dir/deep", body: "d" }, { name: "b", body: "b" }]),
        layer([
          { name: "a/.wh.gone", body: "" },
          { name: "a/.wh.dir", body: "" },
          { name: "b", body: "new b" },
          { name: ".wh.b", body: "" }
        ])
      ],
      target
    )
    expect(existsSync(p("a/keep"))).toBe(true)
    expect(existsSync(p("a/gone"))).toBe(false)
    expect(existsSync(p("a/dir"))).toBe(false)
    expect(readFileSync(p("b"), "utf8")).toBe("new b")
    expect(existsSync(p("a/.wh.gone"))).toBe(false)
  })

  it("hides lower entries below an opaque dir, keeping the layer's own", async () => {
    await applyLayers(
      [
        layer([{ name: "d/old", body: "o" }, { name: "d/sub/old2", body: "o" }, { name: "e/stay", body: "s" }]),
        layer([{ name: "d/", type: "5" }, { name: "d/new", body: "n" }, { name: "d/sub/", type: "5" }, { name: "d/sub/new2", body: "n" }, { name: "d/.wh..wh..opq", body: "" }])
      ],
      target
    )
    expect(execFileSync("find", [".", "-mindepth", "1"], { cwd: target, encoding: "utf8" }).split("\n").filter(Boolean).sort()).toEqual([
      "./d",
      "./d/new",
      "./d/sub",
      "./d/sub/new2",
      "./e",
      "./e/stay"
    ])
  })

  it("replaces a directory by a file and a file by a directory", async () => {
    await applyLayers(
      [layer([{ name: "x/", type: "5" }, { name: "x/inner", body: "i" }, { name: "y", body: "file" }]), layer([{ name: "x", body: "now a file" }, { name: "y/", type: "5" }, { name: "y/z", body: "z" }])],
      target
    )
    expect(readFileSync(p("x"), "utf8")).toBe("now a file")
    expect(lstatSync(p("y")).isDirectory()).toBe(true)
    expect(readFileSync(p("y/z"), "utf8")).toBe("z")
  })

  it("keeps the times of lower directories whose children change", async () => {
    await applyLayers(
      [layer([{ name: "d/", type: "5", mtime: 1111 }, { name: "d/a", body: "a" }]), layer([{ name: "d/b", body: "b" }, { name: "d/.wh.a", body: "" }])],
      target
    )
    expect(lstatSync(p("d")).mtimeMs).toBe(1111_000)
  })

  it.skipIf(!isRoot)("converts whiteouts to overlayfs form: 0/0 devices and trusted.overlay.opaque", async () => {
    await applyLayer(
      layer([{ name: "d/", type: "5" }, { name: "d/.wh..wh..opq", body: "" }, { name: "d/f", body: "f" }, { name: "e/.wh.gone", body: "" }]),
      target,
      { form: "overlay" }
    )
    const wh = lstatSync(p("e/gone"))
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true)
    expect(xattrTree(target).get(p("d"))?.get("trusted.overlay.opaque")).toBe("0x79")
    expect(existsSync(p("d/.wh..wh..opq"))).toBe(false)
  })

  it("converts whiteouts to the user.overlay xattr form for rootless mounts", async () => {
    await applyLayer(layer([{ name: "d/.wh..wh..opq", body: "" }, { name: "e/.wh.gone", body: "" }]), target, {
      form: "overlay",
      overlay: { xattrNamespace: "user", whiteout: "xattr" },
      rootless: true
    })
    const xs = xattrTree(target)
    expect(xs.get(p("d"))?.get("user.overlay.opaque")).toBe("0x79")
    expect(xs.get(p("e/gone"))?.get("user.overlay.whiteout")).toBe("0x79")
    expect(xs.get(p("e"))?.get("user.overlay.opaque")).toBe("0x78")
    expect(lstatSync(p("e/gone")).size).toBe(0)
  })

  it("copies a hardlink target from a lower layer dir in overlay form", async () => {
    const lower = join(dir, "lower")
    mkdirSync(lower)
    await applyLayer(layer([{ name: "bin/busybox", body: "bb", mode: 0o755 }]), lower, { form: "overlay" })
    await applyLayer(layer([{ name: "bin/sh", type: "1", linkname: "bin/busybox" }]), target, { form: "overlay", overlay: { lowers: [lower] } })
    expect(readFileSync(p("bin/sh"), "utf8")).toBe("bb")
    expect(lstatSync(p("bin/sh")).ino).toBe(lstatSync(p("bin/busybox")).ino)
  })

  it("keeps owners in user.rootlesscontainers when rootless, as umoci does", async () => {
    expect(rootlessOwnerXattr(0, 0).length).toBe(0)
    expect(rootlessOwnerXattr(1000, 0).toString("hex")).toBe("08e807")
    expect(rootlessOwnerXattr(0, 5).toString("hex")).toBe("1005")
    const r = await applyLayer(
      layer([
        { name: "f", body: "f", uid: 1000, gid: 100 },
        { name: "r", body: "r" },
        { name: "dev/null", type: "3", devmajor: 1, devminor: 3 }
      ]),
      target,
      { rootless: true }
    )
    const xs = xattrTree(target)
    expect(xs.get(p("f"))?.get("user.rootlesscontainers")).toBe("0x08e8071064")
    expect(xs.get(p("r"))?.get("user.rootlesscontainers")).toBeUndefined()
    expect(lstatSync(p("f")).uid).toBe(process.geteuid?.())
    expect(existsSync(p("dev/null"))).toBe(false)
    expect(r.warnings.map((w) => w.path)).toEqual(['"dev/null"'])
  })

  it("offers an Effect form with typed failures", async () => {
    const wrong = "sha256:1111111111111111111111111111111111111111111111111111111111111111" as Digest
    const tag = await Effect.runPromise(
      applyLayerEffect(layer([{ name: "a", body: "1" }]), target, { expectedDiffId: wrong }).pipe(
        Effect.map(() => "ok"),
        Effect.catchTag("DiffIdMismatchError", (e) => Effect.succeed(e._tag))
      )
    )
    expect(tag).toBe("DiffIdMismatchError")
  })

  it("keeps memory flat while streaming a large file (256 MiB through 1 MiB chunks)", async () => {
    const size = 256 * 1024 * 1024
    const header = rawTar([{ name: "big.bin", size, body: Buffer.alloc(0) }], { trailer: false }).subarray(0, 512)
    const chunk = Buffer.alloc(1 << 20, 0x5a)
    const before = process.memoryUsage().rss
    let peak = before
    async function* source() {
      yield header
      for (let i = 0; i < size / chunk.length; i++) {
        peak = Math.max(peak, process.memoryUsage().rss)
        yield chunk
      }
      yield Buffer.alloc(1024)
    }
    const r = await applyLayer(source(), target, { hasher: nodeBackend })
    expect(r.entries).toBe(1)
    expect(lstatSync(p("big.bin")).size).toBe(size)
    expect(peak - before).toBeLessThan(100 * 1024 * 1024)
  })

  it("creates a missing target and wraps untyped failures in the Effect form", async () => {
    const fresh = join(dir, "new", "layer")
    await applyLayer(layer([{ name: "a", body: "1" }]), fresh)
    expect(readFileSync(join(fresh, "a"), "utf8")).toBe("1")
    async function* broken() {
      yield rawTar([{ name: "a", body: "1" }]).subarray(0, 512)
      throw new Error("network down")
    }
    const tag = await Effect.runPromise(applyLayerEffect(broken(), target).pipe(Effect.flip, Effect.map((e) => `${e._tag}: ${e.message}`)))
    expect(tag).toContain("ApplyEntryError")
    expect(tag).toContain("network down")
  })

  it("lists trees for comparison (smoke)", async () => {
    await applyLayer(layer([{ name: "a", body: "1", mtime: 7 }]), target)
    expect(listTree(target).map((r) => [r.path, r.type, r.mtime])).toEqual([["a", "file", "7.000000000"]])
  })
})
