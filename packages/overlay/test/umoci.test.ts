// cairn's flat apply against `umoci raw unpack` on images umoci itself built (so the whiteouts
// and opaque markers in the layers are umoci's own): the trees must list identically.
import { execFileSync, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { applyLayer, applyLayers } from "../src/index.js"
import { listTree, rowText } from "./listing.js"

const haveUmoci = spawnSync("umoci", ["--version"]).status === 0
const isRoot = process.geteuid?.() === 0
const canRun = haveUmoci && isRoot
if (!haveUmoci) console.warn("umoci is not installed: the umoci comparison is skipped")
else if (!isRoot) console.warn("not root: umoci unpack of devices/owners needs root, the umoci comparison is skipped")

let dir: string
let layout: string
const umoci = (...args: string[]) => execFileSync("umoci", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
const sh = (script: string, root: string) => execFileSync("sh", ["-ec", script], { cwd: root })

/** Layer blobs of the image's manifest, bottom first, with their diffIDs. */
function layersOf(tag: string) {
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"))
  const desc = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.["org.opencontainers.image.ref.name"] === tag)
  const blob = (d: string) => join(layout, "blobs", ...d.split(":"))
  const manifest = JSON.parse(readFileSync(blob(desc.digest), "utf8"))
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), "utf8"))
  return { files: manifest.layers.map((l: { digest: string }) => blob(l.digest)) as string[], diffIds: config.rootfs.diff_ids, digests: manifest.layers.map((l: { digest: string }) => l.digest) }
}

/** unpack -> change -> repack: one new layer made by umoci. */
function layer(change: (rootfs: string) => void) {
  rmSync(join(dir, "bundle"), { recursive: true, force: true })
  umoci("unpack", "--image", `${layout}:t`, "bundle")
  change(join(dir, "bundle", "rootfs"))
  umoci("repack", "--image", `${layout}:t`, "bundle")
}

const latin = Buffer.from([0x6c, 0xe9, 0xff, 0x2e, 0x74, 0x78, 0x74]) // "l\xe9\xff.txt", not UTF-8
const latin2 = Buffer.from([0x6b, 0xfe]) // "k\xfe", a directory that stays

beforeAll(() => {
  if (!canRun) return
  dir = mkdtempSync(join(tmpdir(), "cairn-umoci-"))
  layout = join(dir, "img")
  umoci("init", "--layout", layout)
  umoci("new", "--image", `${layout}:t`)
  // Layer 1: every entry kind, many small files, a large file.
  layer((r) => {
    mkdirSync(join(r, "etc/deep/er"), { recursive: true })
    writeFileSync(join(r, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n")
    writeFileSync(join(r, "etc/owned"), "owned")
    chownSync(join(r, "etc/owned"), 1000, 1001)
    symlinkSync("passwd", join(r, "etc/sl"))
    symlinkSync("/etc/passwd", join(r, "etc/abs-sl"))
    symlinkSync("../../nowhere", join(r, "etc/dangling"))
    linkSync(join(r, "etc/passwd"), join(r, "etc/hard"))
    writeFileSync(join(r, "suid"), "s")
    chmodSync(join(r, "suid"), 0o4755)
    writeFileSync(join(r, "sgid"), "g")
    chmodSync(join(r, "sgid"), 0o2711)
    mkdirSync(join(r, "tmp"))
    chmodSync(join(r, "tmp"), 0o1777)
    writeFileSync(join(r, "cap"), "cap")
    sh("mkfifo fifo && mknod null c 1 3 && mknod loop0 b 7 0 && setfattr -n security.capability -v 0x0100000280000000000000000000000000000000 cap && setfattr -n user.bin -v 0x00ff80 suid && setfattr -n user.text -v hello etc/passwd && setfattr -n trusted.t -v 0x01 tmp", r)
    writeFileSync(Buffer.concat([Buffer.from(`${r}/`), latin]), "latin")
    mkdirSync(Buffer.concat([Buffer.from(`${r}/`), latin2]))
    writeFileSync(Buffer.concat([Buffer.from(`${r}/`), latin2, Buffer.from("/inner")]), "stays")
    writeFileSync(join(r, "large.bin"), randomBytes(6 * 1024 * 1024))
    mkdirSync(join(r, "many/a"), { recursive: true })
    for (let i = 0; i < 600; i++) writeFileSync(join(r, "many", i % 2 ? "a" : "", `f${i}`), `file ${i}\n`)
    mkdirSync(join(r, "gone/dir"), { recursive: true })
    writeFileSync(join(r, "gone/dir/x"), "x")
    writeFileSync(join(r, "gone/file"), "f")
    mkdirSync(join(r, "opq/old"), { recursive: true })
    writeFileSync(join(r, "opq/old/o"), "o")
    writeFileSync(join(r, "opq/keep"), "k")
    mkdirSync(join(r, "dir2file"))
    writeFileSync(join(r, "dir2file/inner"), "i")
    writeFileSync(join(r, "file2dir"), "f")
    utimesSync(join(r, "etc/passwd"), 1500000000.5, 1500000000.25)
    utimesSync(join(r, "etc/deep"), 1400000000, 1400000000)
  })
  // Layer 2: deletions, replacements, an emptied-and-refilled dir, content and mode changes, a hardlink to a lower file.
  layer((r) => {
    rmSync(join(r, "gone/dir"), { recursive: true })
    rmSync(join(r, "gone/file"))
    rmSync(join(r, "opq"), { recursive: true })
    mkdirSync(join(r, "opq"))
    writeFileSync(join(r, "opq/new"), "n")
    rmSync(join(r, "dir2file"), { recursive: true })
    writeFileSync(join(r, "dir2file"), "now a file")
    rmSync(join(r, "file2dir"))
    mkdirSync(join(r, "file2dir"))
    writeFileSync(join(r, "file2dir/child"), "c")
    writeFileSync(join(r, "etc/passwd"), "root:x:0:0::/root:/bin/bash\n")
    chmodSync(join(r, "suid"), 0o755)
    linkSync(join(r, "large.bin"), join(r, "large-link"))
    rmSync(join(r, "etc/sl"))
    symlinkSync("owned", join(r, "etc/sl"))
    for (let i = 0; i < 600; i += 50) rmSync(join(r, "many", i % 2 ? "a" : "", `f${i}`))
    renameSync(join(r, "many/a/f1"), join(r, "many/moved"))
  })
  // Layer 3: remove the whole "many/a" dir, and a name the lower layer had.
  layer((r) => {
    rmSync(join(r, "many/a"), { recursive: true })
    rmSync(Buffer.concat([Buffer.from(`${r}/`), latin]))
    writeFileSync(join(r, "last"), "last")
  })
}, 120_000)
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe("flat apply against umoci raw unpack", () => {
  it.skipIf(!canRun)("gives a tree identical to umoci's (path, type, mode, owner, size, content, link, xattrs, hardlinks, mtime)", async () => {
    const { files, diffIds, digests } = layersOf("t")
    expect(files.length).toBe(3)
    umoci("raw", "unpack", "--image", `${layout}:t`, "umoci-out")
    const ours = join(dir, "cairn-out")
    mkdirSync(ours)
    const results = await applyLayers(files, ours, { expectedDiffIds: diffIds, computeDigest: true })
    expect(results.map((r) => r.digest)).toEqual(digests)
    expect(results.map((r) => r.warnings)).toEqual(files.map(() => []))
    const theirs = listTree(join(dir, "umoci-out"), { includeRoot: true }).map(rowText)
    const mine = listTree(ours, { includeRoot: true }).map(rowText)
    expect(mine.length).toBeGreaterThan(250)
    expect(mine).toEqual(theirs)
    if (process.env.CAIRN_SHOW_LISTING) console.log(mine.filter((l) => !l.startsWith("many/")).join("\n"))
  })

  it.skipIf(!canRun)("overlay-form layers mounted with overlayfs show the same tree as the flat apply", async () => {
    const { files } = layersOf("t")
    const flat = join(dir, "flat")
    mkdirSync(flat)
    await applyLayers(files, flat)
    const lowers: string[] = []
    for (const [i, f] of files.entries()) {
      const l = join(dir, `layer${i}`)
      mkdirSync(l)
      await applyLayer(f, l, { form: "overlay", overlay: { lowers: [...lowers].reverse() } })
      lowers.push(l)
    }
    const merged = join(dir, "merged")
    mkdirSync(merged)
    const m = spawnSync("mount", ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${[...lowers].reverse().join(":")}`, merged])
    if (m.status !== 0) {
      console.warn(`overlayfs mount not possible here (${m.stderr}); overlay-form comparison skipped`)
      return
    }
    try {
      // Hardlinks across layers become copies in overlay form, so hardlink groups are left out.
      const strip = (rows: ReturnType<typeof listTree>) => rows.map((r) => rowText({ ...r, group: "" }))
      expect(strip(listTree(merged))).toEqual(strip(listTree(flat)))
    } finally {
      execFileSync("umount", [merged])
    }
  })
})
