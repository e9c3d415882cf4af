import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable, Writable } from "node:stream"
import { afterEach, describe, expect, it } from "vitest"
import type { TarHeader } from "../src/tar/header.js"
import { readTar } from "../src/tar/reader.js"
import { TarBodySizeError, TarHeaderError, TarWriterClosedError } from "../src/errors.js"
import { encodeHeader, TarWriter } from "../src/tar/writer.js"

const hdr = (path: string | Buffer, over: Partial<TarHeader> = {}): TarHeader => ({
  path: typeof path === "string" ? Buffer.from(path) : path,
  type: "file",
  mode: 0o644,
  uid: 0,
  gid: 0,
  uname: "",
  gname: "",
  size: 0,
  mtime: 1_700_000_000,
  linkpath: Buffer.alloc(0),
  devmajor: 0,
  devminor: 0,
  xattrs: new Map(),
  pax: new Map(),
  ...over
})

function sink() {
  const chunks: Buffer[] = []
  const out = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(Buffer.from(c))
      cb()
    }
  })
  return { out, bytes: () => Buffer.concat(chunks) }
}

async function tarOf(entries: Array<[TarHeader, (Uint8Array | AsyncIterable<Uint8Array>)?]>) {
  const s = sink()
  const w = new TarWriter(s.out)
  for (const [h, b] of entries) await w.add(h, b)
  await w.finish()
  return s.bytes()
}

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "cairn-writer-"))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const gnuList = (archive: Buffer) =>
  execFileSync("tar", ["--numeric-owner", "--full-time", "-tvf", "-"], { input: archive, stdio: "pipe" }).toString()

describe("TarWriter", () => {
  it("writes every entry kind so that GNU tar lists and extracts them", async () => {
    const archive = await tarOf([
      [hdr("etc", { type: "directory", mode: 0o755 })],
      [hdr("etc/hello.txt", { size: 6, uid: 1000, gid: 1001, mode: 0o4755 }), Buffer.from("hello\n")],
      [hdr("etc/link", { type: "symlink", mode: 0o777, linkpath: Buffer.from("../abs/../hello.txt") })],
      [hdr("etc/hard", { type: "hardlink", linkpath: Buffer.from("etc/hello.txt") })],
      [hdr("dev/null", { type: "char", devmajor: 1, devminor: 3, mode: 0o666 })],
      [hdr("dev/sda", { type: "block", devmajor: 8, devminor: 0, mode: 0o660 })],
      [hdr("run/fifo", { type: "fifo", mode: 0o600 })]
    ])
    expect(archive.length % 512).toBe(0)
    const list = gnuList(archive)
    expect(list).toMatch(/^drwxr-xr-x 0\/0 +0 2023-11-14 22:13:20 etc\/$/mu)
    expect(list).toMatch(/^-rwsr-xr-x 1000\/1001 +6 .* etc\/hello\.txt$/mu)
    expect(list).toMatch(/^lrwxrwxrwx 0\/0 .* etc\/link -> \.\.\/abs\/\.\.\/hello\.txt$/mu)
    expect(list).toMatch(/^hrw-r--r-- 0\/0 .* etc\/hard link to etc\/hello\.txt$/mu)
    expect(list).toMatch(/^crw-rw-rw- 0\/0 +1,3 .* dev\/null$/mu)
    expect(list).toMatch(/^brw-rw---- 0\/0 +8,0 .* dev\/sda$/mu)
    expect(list).toMatch(/^prw------- 0\/0 .* run\/fifo$/mu)

    const d = tmp()
    execFileSync("tar", ["--numeric-owner", "-xpf", "-", "-C", d], { input: archive })
    expect(readFileSync(join(d, "etc/hello.txt"), "utf8")).toBe("hello\n")
    const st = statSync(join(d, "etc/hello.txt"))
    expect([st.uid, st.gid, st.mode & 0o7777, st.nlink, st.mtimeMs]).toEqual([1000, 1001, 0o4755, 2, 1_700_000_000_000])
    expect(readlinkSync(join(d, "etc/link"))).toBe("../abs/../hello.txt")
    expect(statSync(join(d, "run/fifo")).isFIFO()).toBe(true)
  })

  it("stores long paths and link targets through PAX and ustar prefix", async () => {
    const mid = `${"p".repeat(120)}/${"n".repeat(90)}` // fits ustar prefix+name
    const long = `${"a/".repeat(100)}${"x".repeat(150)}` // needs PAX
    const target = `${"t".repeat(140)}/../${"u".repeat(30)}`
    const archive = await tarOf([
      [hdr(mid, { size: 1 }), Buffer.from("m")],
      [hdr(long, { size: 1 }), Buffer.from("l")],
      [hdr("sym", { type: "symlink", linkpath: Buffer.from(target) })]
    ])
    const list = gnuList(archive)
    expect(list).toContain(` ${mid}\n`)
    expect(list).toContain(` ${long}\n`)
    expect(list).toContain(`sym -> ${target}\n`)
    // the prefix split needs no extended header
    expect(encodeHeader(hdr(mid)).length).toBe(512)
  })

  it("keeps non-UTF-8 names and link targets byte-exact", async () => {
    const name = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]) // "f\xff\xfe.txt"
    const utf = Buffer.from("ünï-名前")
    const target = Buffer.from([0x2e, 0x2e, 0x2f, 0x80, 0x81])
    const archive = await tarOf([
      [hdr(name, { size: 2 }), Buffer.from("nu")],
      [hdr(utf, { size: 0 })],
      [hdr("lnk", { type: "symlink", linkpath: target })]
    ])
    const d = tmp()
    execFileSync("tar", ["-xf", "-", "-C", d], { input: archive })
    const names = readdirSync(d, { encoding: "buffer" }).map((b) => b.toString("hex")).sort()
    expect(names).toEqual([name, utf, Buffer.from("lnk")].map((b) => b.toString("hex")).sort())
    expect(readlinkSync(join(d, "lnk"), { encoding: "buffer" }).equals(target)).toBe(true)
    expect(readFileSync(Buffer.concat([Buffer.from(`${d}/`), name])).toString()).toBe("nu")
  })

  it("writes binary xattr values (security.capability with 0x80 bytes) that GNU tar restores", async () => {
    // VFS_CAP_REVISION_2 granting cap_setuid (bit 7 => 0x80 in the permitted mask)
    const cap = Buffer.from("0100000280000000000000000000000000000000", "hex")
    const bin = Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x80])
    const archive = await tarOf([
      [
        hdr("bin/ping", {
          size: 3,
          mode: 0o755,
          xattrs: new Map([
            ["security.capability", cap],
            ["user.bin", bin]
          ])
        }),
        Buffer.from("elf")
      ]
    ])
    const d = tmp()
    execFileSync("tar", ["--xattrs", "--xattrs-include=*", "-xpf", "-", "-C", d], { input: archive })
    const dump = execFileSync("getfattr", ["-d", "-m", "-", "-e", "hex", join(d, "bin/ping")], { stdio: "pipe" }).toString()
    expect(dump).toContain(`security.capability=0x${cap.toString("hex")}`)
    expect(dump).toContain(`user.bin=0x${bin.toString("hex")}`)
  })

  it("moves uid/gid beyond 7 octal digits, huge sizes and fractional mtimes into PAX", async () => {
    const archive = await tarOf([
      [hdr("big-ids", { uid: 3_000_000, gid: 4_000_000, mtime: 1_700_000_000.25, size: 1 }), Buffer.from("x")]
    ])
    expect(gnuList(archive)).toMatch(/^-rw-r--r-- 3000000\/4000000 +1 2023-11-14 22:13:20\.25 big-ids$/mu)
    const d = tmp()
    execFileSync("tar", ["--numeric-owner", "-xpf", "-", "-C", d], { input: archive })
    const st = statSync(join(d, "big-ids"), { bigint: true })
    expect([st.uid, st.gid, st.mtimeNs]).toEqual([3_000_000n, 4_000_000n, 1_700_000_000_250_000_000n])

    // 9 GiB: list only the header (the body is cut short, which GNU tar reports after listing)
    const head = encodeHeader(hdr("huge", { size: 9 * 1024 ** 3 }))
    const out = (() => {
      try {
        return gnuList(Buffer.concat([head, Buffer.alloc(1024)]))
      } catch (e) {
        return String((e as { stdout: Buffer }).stdout)
      }
    })()
    expect(out).toMatch(/ 9663676416 .* huge/u)
  })

  it("writes the same bytes for the same entries, with no atime/ctime or names it was not given", async () => {
    const entries = (): Array<[TarHeader, Uint8Array]> => [
      [hdr("a", { size: 1, xattrs: new Map([["user.z", Buffer.from("1")], ["user.a", Buffer.from("2")]]) }), Buffer.from("a")],
      [hdr("ü", { size: 1 }), Buffer.from("b")]
    ]
    const one = await tarOf(entries())
    const two = await tarOf(entries())
    expect(one.equals(two)).toBe(true)
    const text = one.toString("latin1")
    expect(text).not.toMatch(/atime|ctime/u)
    // xattr records are sorted by name
    expect(text.indexOf("SCHILY.xattr.user.a")).toBeLessThan(text.indexOf("SCHILY.xattr.user.z"))
  })

  it("streams a body of an async iterable and pads it to a block", async () => {
    async function* gen() {
      for (let i = 0; i < 100; i++) yield Buffer.alloc(1000, i)
    }
    const archive = await tarOf([[hdr("stream.bin", { size: 100_000 }), gen()]])
    const d = tmp()
    execFileSync("tar", ["-xf", "-", "-C", d], { input: archive })
    const got = readFileSync(join(d, "stream.bin"))
    expect(got.length).toBe(100_000)
    expect(got[99_999]).toBe(99)
  })

  it("rejects a body shorter or longer than its header with a typed error and closes the writer", async () => {
    for (const body of [Buffer.from("abc"), Readable.from([Buffer.from("abcdef")])]) {
      const s = sink()
      const w = new TarWriter(s.out)
      await w.add(hdr("ok", { size: 1 }), Buffer.from("k"))
      const err = await w.add(hdr("liar", { size: 5 }), body).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TarBodySizeError)
      expect((err as TarBodySizeError).expected).toBe(5)
      expect((err as TarBodySizeError).message).toContain("liar")
      await expect(w.add(hdr("after", {}))).rejects.toBeInstanceOf(TarBodySizeError)
      await expect(w.finish()).rejects.toBeInstanceOf(TarBodySizeError)
    }
  })

  it("rejects malformed headers with the field that is wrong", async () => {
    const w = new TarWriter(sink().out)
    const e1 = await w.add(hdr("a\0b")).catch((e: unknown) => e)
    expect(e1).toBeInstanceOf(TarHeaderError)
    expect((e1 as TarHeaderError).field).toBe("path")
    expect(() => encodeHeader(hdr("d", { type: "directory", size: 3 }))).toThrow(TarHeaderError)
    expect(() => encodeHeader(hdr("c", { type: "char", devmajor: 1 << 30 }))).toThrow(/devmajor/u)
  })

  it("writes a tree that GNU tar can re-create from a file on disk", async () => {
    const d = tmp()
    const file = join(d, "x.tar")
    writeFileSync(file, await tarOf([[hdr("only", { size: 2 }), Buffer.from("hi")]]))
    expect(execFileSync("tar", ["-xOf", file, "only"]).toString()).toBe("hi")
  })

  it("round-trips every header field through cairn's reader byte-exactly", async () => {
    const cap = Buffer.from("0100000280000000000000000000000000000000", "hex")
    const headers: Array<[TarHeader, Buffer?]> = [
      [hdr("d", { type: "directory", mode: 0o1777, uid: 5, gid: 6, mtime: 1_600_000_000 })],
      [hdr(Buffer.from([0x64, 0x2f, 0xc3, 0x28, 0xff]), { size: 3, mode: 0o6755, xattrs: new Map([["security.capability", cap]]) }), Buffer.from("abc")],
      [hdr("d/sym", { type: "symlink", mode: 0o777, linkpath: Buffer.concat([Buffer.from("/".repeat(150)), Buffer.from([0xfe])]) })],
      [hdr("d/hard", { type: "hardlink", linkpath: Buffer.from("d/x") })],
      [hdr("d/chr", { type: "char", devmajor: 4095, devminor: 1048575 })],
      [hdr("d/blk", { type: "block", devmajor: 7, devminor: 1 })],
      [hdr("d/fifo", { type: "fifo", uid: 2_097_152, gid: 9_999_999, mtime: 1.5, uname: "ünï", gname: "g".repeat(40) })],
      [hdr(`${"deep/".repeat(60)}end`, { size: 0, pax: new Map([["LIBARCHIVE.creationtime", Buffer.from("1")]]) })]
    ]
    const archive = await tarOf(headers)
    const got: TarHeader[] = []
    const bodies: Buffer[] = []
    for await (const e of readTar(Readable.from([archive]))) {
      const chunks: Buffer[] = []
      for await (const c of e.body) chunks.push(c)
      got.push(e.header)
      bodies.push(Buffer.concat(chunks))
    }
    expect(got.length).toBe(headers.length)
    headers.forEach(([want, body], i) => {
      const h = got[i]!
      expect(h.path.equals(want.path)).toBe(true)
      expect(h.linkpath.equals(want.linkpath)).toBe(true)
      expect([h.type, h.mode, h.uid, h.gid, h.uname, h.gname, h.size, h.mtime, h.devmajor, h.devminor]).toEqual([
        want.type, want.mode, want.uid, want.gid, want.uname, want.gname, want.size, want.mtime, want.devmajor, want.devminor
      ])
      expect([...h.xattrs].map(([k, v]) => `${k}=${v.toString("hex")}`)).toEqual([...want.xattrs].map(([k, v]) => `${k}=${v.toString("hex")}`))
      for (const [k, v] of want.pax) expect(h.pax.get(k)?.equals(v)).toBe(true)
      expect(bodies[i]!.equals(body ?? Buffer.alloc(0))).toBe(true)
    })
  })

  it("rejects with the stream's error, without crashing, when the output fails", async () => {
    const out = new Writable({
      write(_c, _e, cb) {
        cb(new Error("disk full"))
      }
    })
    out.on("error", () => undefined)
    const w = new TarWriter(out)
    await expect(w.add(hdr("a", { size: 1 }), Buffer.from("a"))).rejects.toThrow(/disk full/u)
    await expect(w.finish()).rejects.toThrow()
  })

  it("fails instead of hanging when the output is destroyed while it waits for drain", async () => {
    const out = new Writable({ highWaterMark: 16, write: () => undefined }) // never calls back: stays full
    const w = new TarWriter(out)
    const pending = w.add(hdr("big", { size: 4096 }), Buffer.alloc(4096))
    setImmediate(() => out.destroy())
    await expect(pending).rejects.toBeInstanceOf(TarWriterClosedError)
  })
})
