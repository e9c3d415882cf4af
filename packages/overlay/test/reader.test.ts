import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, symlinkSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { headerChecksum, readTar, TarChecksumError, TarFormatError, TarTruncatedError, type TarEntry } from "../src/index.js"
import { chunked, entryBytes, paxRecords, rawTar } from "./rawtar.js"

async function collect(data: AsyncIterable<Uint8Array>) {
  const out: Array<TarEntry["header"] & { body: Buffer }> = []
  for await (const e of readTar(data)) {
    const parts: Buffer[] = []
    for await (const c of e.body) parts.push(Buffer.from(c))
    out.push({ ...e.header, body: Buffer.concat(parts) })
  }
  return out
}

const CAP_SETUID = Buffer.from("0100000280000000000000000000000000000000", "hex") // vfs_cap_data v2, cap_setuid (bit 7)

describe("readTar", () => {
  it("bodySync hands out a buffered body whole, and leaves a straddling one to body", async () => {
    const a = Buffer.alloc(1000, 0x61)
    const b = Buffer.alloc(9000, 0x62)
    const tar = rawTar([
      { name: "a", body: a },
      { name: "b", body: b },
      { name: "empty", body: "" },
      { name: "c", body: "c" }
    ])
    // chunks of 4096: a (header 512 + body 1000) is inside the first chunk, b's 9000 bytes straddle chunks
    const seen: Array<[string, "sync" | "stream", Buffer]> = []
    for await (const e of readTar(chunked(tar, 4096))) {
      const whole = e.bodySync()
      if (whole !== undefined) {
        seen.push([e.header.path.toString(), "sync", Buffer.from(whole)])
        expect(e.bodySync()).toEqual(Buffer.alloc(0)) // nothing left
        continue
      }
      const parts: Buffer[] = []
      for await (const c of e.body) parts.push(Buffer.from(c))
      seen.push([e.header.path.toString(), "stream", Buffer.concat(parts)])
    }
    expect(seen).toEqual([
      ["a", "sync", a],
      ["b", "stream", b],
      ["empty", "sync", Buffer.alloc(0)],
      ["c", "stream", Buffer.from("c")] // its header ends the third chunk: the body is not read yet
    ])
  })

  it("reads ustar entries of every kind with their metadata", async () => {
    const tar = rawTar([
      { name: "./etc/", type: "5", mode: 0o1755, uid: 1, gid: 2, mtime: 1700000000, uname: "bin", gname: "daemon" },
      { name: "./etc/passwd", body: "root:x:0:0\n", mode: 0o4755, uid: 1000, gid: 1000, mtime: 42 },
      { name: "etc/link", type: "2", linkname: "../etc/passwd", mode: 0o777 },
      { name: "etc/hard", type: "1", linkname: "etc/passwd" },
      { name: "dev/null", type: "3", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "dev/sda", type: "4", devmajor: 8, devminor: 0 },
      { name: "run/fifo", type: "6" }
    ])
    const entries = await collect(chunked(tar, 100))
    expect(entries.map((e) => [e.path.toString(), e.type])).toEqual([
      ["etc", "directory"],
      ["etc/passwd", "file"],
      ["etc/link", "symlink"],
      ["etc/hard", "hardlink"],
      ["dev/null", "char"],
      ["dev/sda", "block"],
      ["run/fifo", "fifo"]
    ])
    const [dir, file, link, hard, nul] = entries
    expect(dir).toMatchObject({ mode: 0o1755, uid: 1, gid: 2, mtime: 1700000000, uname: "bin", gname: "daemon" })
    expect(file).toMatchObject({ mode: 0o4755, uid: 1000, size: 11, mtime: 42 })
    expect(file!.body.toString()).toBe("root:x:0:0\n")
    expect(link!.linkpath.toString()).toBe("../etc/passwd")
    expect(hard!.linkpath.toString()).toBe("etc/passwd")
    expect(nul).toMatchObject({ devmajor: 1, devminor: 3 })
  })

  it("keeps PAX path, linkpath and xattr values as raw bytes", async () => {
    const name = Buffer.from([0x61, 0xff, 0xfe, 0x2f, 0x62]) // "a\xff\xfe/b": not UTF-8
    const tar = rawTar([
      {
        name: "ignored",
        body: "x",
        pax: [
          ["path", name],
          ["SCHILY.xattr.security.capability", CAP_SETUID],
          ["SCHILY.xattr.user.k", "v=1\n2"],
          ["mtime", "1700000000.25"],
          ["uid", "70000"],
          ["gid", "80000"],
          ["uname", "ünï"],
          ["atime", "1.5"]
        ]
      },
      { name: "l", type: "2", pax: [["linkpath", Buffer.from([0x2f, 0x80, 0x81])]] }
    ])
    const [f, l] = await collect(chunked(tar, 333))
    expect(f!.path.equals(name)).toBe(true)
    expect(f!.xattrs.get("security.capability")!.equals(CAP_SETUID)).toBe(true)
    expect(f!.xattrs.get("user.k")!.toString()).toBe("v=1\n2")
    expect(f).toMatchObject({ mtime: 1700000000.25, uid: 70000, gid: 80000, uname: "ünï" })
    expect(f!.pax.get("atime")!.toString()).toBe("1.5")
    expect(f!.pax.has("path")).toBe(false)
    expect(l!.linkpath.equals(Buffer.from([0x2f, 0x80, 0x81]))).toBe(true)
  })

  it("applies GNU long names and long links, ustar prefixes and base-256 sizes", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(150)}`
    const tar = rawTar([
      { name: "short", gnuLongName: long, gnuLongLink: `${"t".repeat(200)}`, type: "2", magic: "gnu" as const },
      { name: "file.txt", prefix: "some/deep/prefix", body: "hi" },
      { name: "big", body: "abc", base256Size: true }
    ])
    const [a, b, c] = await collect(chunked(tar))
    expect(a!.path.toString()).toBe(long)
    expect(a!.linkpath.toString()).toBe("t".repeat(200))
    expect(b!.path.toString()).toBe("some/deep/prefix/file.txt")
    expect(c!.size).toBe(3)
    expect(c!.body.toString()).toBe("abc")
  })

  it("applies global PAX records to later entries, local ones overriding", async () => {
    const g = paxRecords([["uname", "global"], ["path", "not/for/everyone"]])
    const tar = Buffer.concat([
      entryBytes({ name: "pax_global_header", type: "g", body: g }),
      entryBytes({ name: "a", body: "1" }),
      entryBytes({ name: "b", body: "2", pax: [["uname", "local"]] }),
      Buffer.alloc(1024)
    ])
    const [a, b] = await collect(chunked(tar))
    expect(a!.uname).toBe("global")
    expect(a!.path.toString()).toBe("a")
    expect(b!.uname).toBe("local")
  })

  it("rejects a header with a bad checksum, naming the entry", async () => {
    const tar = rawTar([{ name: "ok", body: "1" }, { name: "evil/file", body: "2", checksum: 1234 }])
    const err = await collect(chunked(tar)).catch((e) => e)
    expect(err).toBeInstanceOf(TarChecksumError)
    expect(err.message).toContain("evil/file")
    expect(err.offset).toBe(1024)
  })

  it("rejects a truncated body, naming the entry", async () => {
    const tar = rawTar([{ name: "cut/file", body: Buffer.alloc(5000, 1) }]).subarray(0, 512 + 3000)
    const err = await collect(chunked(tar)).catch((e) => e)
    expect(err).toBeInstanceOf(TarTruncatedError)
    expect(err.message).toContain("cut/file")
  })

  it("rejects a header cut short", async () => {
    const tar = rawTar([{ name: "a", body: "1" }]).subarray(0, 1024 + 100)
    const full = Buffer.concat([rawTar([{ name: "a", body: "1" }], { trailer: false }), Buffer.alloc(100, 7)])
    expect(await collect(chunked(tar)).catch((e) => e)).toBeInstanceOf(TarTruncatedError) // cut inside the trailer
    expect((await collect(chunked(rawTar([{ name: "a", body: "1" }]).subarray(0, 1536)))).length).toBe(1) // one zero block then EOF: tolerated
    expect(await collect(chunked(full)).catch((e) => e)).toBeInstanceOf(TarTruncatedError)
  })

  it("fails at EOF on a 100 GB size header without buffering the body", async () => {
    const tar = entryBytes({ name: "huge.bin", size: 100 * 1024 ** 3, base256Size: true, body: Buffer.alloc(0) })
    const data = Buffer.concat([tar.subarray(0, 512), Buffer.alloc(1 << 20, 9)])
    let seen = 0
    const err = await (async () => {
      for await (const e of readTar(chunked(data, 65536))) {
        expect(e.header.size).toBe(100 * 1024 ** 3)
        for await (const c of e.body) seen += c.length
      }
    })().catch((e) => e)
    expect(err).toBeInstanceOf(TarTruncatedError)
    expect(err.message).toContain("huge.bin")
    expect(seen).toBe(1 << 20)
  })

  it("ends at two zero blocks and drains the padding behind them", async () => {
    let pulled = 0
    const tar = Buffer.concat([rawTar([{ name: "a", body: "1" }]), Buffer.alloc(8192)])
    async function* src() {
      for await (const c of chunked(tar, 512)) {
        pulled += c.length
        yield c
      }
    }
    expect((await collect(src())).length).toBe(1)
    expect(pulled).toBe(tar.length)
  })

  it("skips unread bodies automatically and through skip()", async () => {
    const tar = rawTar([
      { name: "a", body: Buffer.alloc(3000, 1) },
      { name: "b", body: Buffer.alloc(700, 2) },
      { name: "c", body: "c" }
    ])
    const names: string[] = []
    for await (const e of readTar(chunked(tar, 999))) {
      names.push(e.header.path.toString())
      if (e.header.path.toString() === "b") await e.skip()
    }
    expect(names).toEqual(["a", "b", "c"])
  })

  it("rejects unsupported entry types and malformed PAX records", async () => {
    expect(await collect(chunked(rawTar([{ name: "sparse", type: "S" }]))).catch((e) => e)).toBeInstanceOf(TarFormatError)
    const bad = Buffer.concat([entryBytes({ name: "PaxHeader", type: "x", body: "99 path=x\n" }), entryBytes({ name: "a" }), Buffer.alloc(1024)])
    const err = await collect(chunked(bad)).catch((e) => e)
    expect(err).toBeInstanceOf(TarFormatError)
  })

  it("reads what GNU tar writes (pax format: xattrs, non-UTF-8 and long names)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-reader-"))
    try {
      const root = join(dir, "root")
      mkdirSync(root)
      const weird = Buffer.concat([Buffer.from(join(root, "x")), Buffer.from([0xe9, 0xff])])
      writeFileSync(weird, "latin1")
      writeFileSync(join(root, "cap"), "c")
      let xattrs = true
      try {
        execFileSync("setfattr", ["-n", "security.capability", "-v", `0x${CAP_SETUID.toString("hex")}`, join(root, "cap")])
      } catch {
        xattrs = false
        console.warn("setfattr security.capability not permitted here: xattr part of the GNU tar test skipped")
      }
      const longDir = join(root, "l".repeat(90), "m".repeat(90))
      mkdirSync(longDir, { recursive: true })
      writeFileSync(join(longDir, "n".repeat(80)), "long")
      symlinkSync("/".repeat(1) + "t".repeat(150), join(root, "sl"))
      const tarFile = join(dir, "a.tar")
      execFileSync("tar", ["--format=pax", "--xattrs", "--xattrs-include=*", "-C", root, "-cf", tarFile, "."])
      const entries = await collect(chunked(readFileSync(tarFile), 4096))
      const byName = new Map(entries.map((e) => [e.path.toString("latin1"), e]))
      expect(byName.get("x\xe9\xff")?.body.toString()).toBe("latin1")
      expect(byName.get(`${"l".repeat(90)}/${"m".repeat(90)}/${"n".repeat(80)}`)?.body.toString()).toBe("long")
      expect(byName.get("sl")?.linkpath.toString()).toBe(`/${"t".repeat(150)}`)
      if (xattrs) expect(byName.get("cap")?.xattrs.get("security.capability")?.equals(CAP_SETUID)).toBe(true)
      const gnu = join(dir, "g.tar")
      execFileSync("tar", ["--format=gnu", "-C", root, "-cf", gnu, "."])
      const g = await collect(chunked(readFileSync(gnu), 4096))
      expect(g.map((e) => e.path.toString("latin1")).sort()).toEqual([...byName.keys()].sort())
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("headerChecksum", () => {
  it("is the byte sum of the block with the chksum field as spaces, unsigned and with signed chars", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 512, maxLength: 512 }), (block) => {
        let unsigned = 0
        let signed = 0
        for (let i = 0; i < 512; i++) {
          const b = i >= 148 && i < 156 ? 0x20 : block[i]!
          unsigned += b
          signed += b > 127 ? b - 256 : b
        }
        expect(headerChecksum(block)).toEqual({ unsigned, signed })
      }),
      { numRuns: 500 }
    )
  })
})
