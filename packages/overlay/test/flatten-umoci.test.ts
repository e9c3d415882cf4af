// flatten, the merged view and diffDirs against umoci on an image umoci itself built (so the
// whiteouts in its layers are umoci's own), and umoci applying a layer cairn's diff wrote.
import { execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { createReadStream, linkSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { applyLayer } from "../src/apply.js"
import { diffDirs } from "../src/diff.js"
import { flatten } from "../src/flatten.js"
import { MergedView } from "../src/view.js"
import { isRoot, tempDirs } from "./diff-support.js"
import { listTree, type Row, rowText } from "./listing.js"

const haveUmoci = spawnSync("umoci", ["--version"]).status === 0
const canRun = haveUmoci && isRoot
if (!haveUmoci) console.warn("umoci is not installed: the umoci comparisons of flatten/view/diff are skipped")
else if (!isRoot) console.warn("not root: umoci unpack of devices and owners needs root; the umoci comparisons are skipped")

const tmp = tempDirs()
let dir = ""
let layout = ""
const umoci = (...args: string[]) => execFileSync("umoci", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
const sh = (script: string, cwd: string) => execFileSync("sh", ["-ec", script], { cwd, stdio: ["ignore", "pipe", "pipe"] })

function layerFiles(tag: string): string[] {
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"))
  const desc = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.["org.opencontainers.image.ref.name"] === tag)
  const blob = (d: string) => join(layout, "blobs", ...d.split(":"))
  const manifest = JSON.parse(readFileSync(blob(desc.digest), "utf8"))
  return manifest.layers.map((l: { digest: string }) => blob(l.digest))
}

function layer(change: (rootfs: string) => void) {
  rmSync(join(dir, "bundle"), { recursive: true, force: true })
  umoci("unpack", "--image", `${layout}:t`, "bundle")
  change(join(dir, "bundle", "rootfs"))
  umoci("repack", "--image", `${layout}:t`, "bundle")
}

function rawUnpack(tag: string): string {
  const out = join(tmp.make("umoci-out"), "rootfs")
  umoci("raw", "unpack", "--image", `${layout}:${tag}`, out)
  return out
}

const odd = Buffer.from([0x6f, 0xe9, 0xff]) // not UTF-8
// mtimes to the millisecond: a TarHeader mtime is a double, exact to about 0.2 µs at today's dates
const rows = (root: string) => listTree(root, { mtimeDigits: 3 }).map(rowText)

beforeAll(() => {
  if (!canRun) return
  dir = tmp.make("umoci-img")
  layout = join(dir, "img")
  umoci("init", "--layout", layout)
  umoci("new", "--image", `${layout}:t`)
  layer((r) => {
    mkdirSync(join(r, "etc/conf.d"), { recursive: true })
    mkdirSync(join(r, "var/cache/apt"), { recursive: true })
    mkdirSync(join(r, "opt/app"), { recursive: true })
    writeFileSync(join(r, "etc/passwd"), "root:x:0:0\n")
    linkSync(join(r, "etc/passwd"), join(r, "etc/passwd.hard"))
    symlinkSync("passwd", join(r, "etc/sl"))
    writeFileSync(join(r, "var/cache/apt/pkgcache.bin"), Buffer.alloc(50_000, 7))
    for (let i = 0; i < 40; i++) writeFileSync(join(r, `opt/app/f${i}`), `file ${i}\n`)
    writeFileSync(Buffer.concat([Buffer.from(`${r}/`), odd]), "odd name")
    writeFileSync(join(r, "bin-cap"), "cap")
    sh("mkfifo fifo && mknod null c 1 3 && setfattr -n security.capability -v 0x0100000280000000000000000000000000000000 bin-cap && setfattr -n user.k -v 0x00ff80 etc/passwd && chmod 4755 bin-cap", r)
  })
  layer((r) => {
    sh("rm -rf var/cache/apt && rm etc/sl && echo 'user:x:1000:1000' >> etc/passwd && chmod 600 etc/passwd", r)
    sh("rm -rf opt/app && mkdir opt/app && echo new > opt/app/only && chown 1000:1000 opt/app/only", r)
    writeFileSync(join(r, "etc/conf.d/new.conf"), "x=1\n")
  })
  layer((r) => {
    sh("rm -rf etc/conf.d && echo 'a file now' > etc/conf.d && rm fifo", r)
  })
})

afterAll(() => tmp.cleanup())

describe("against umoci", () => {
  it.skipIf(!canRun)("flatten of an umoci image extracts to the tree umoci raw unpack gives", async () => {
    const layers = layerFiles("t").map((f) => () => createReadStream(f))
    const flat = join(tmp.make("flat"), "flat.tar.gz")
    await flatten(layers, flat)
    const ours = tmp.make("ours")
    await applyLayer(flat, ours)
    expect(rows(ours)).toEqual(rows(rawUnpack("t")))
  })

  it.skipIf(!canRun)("the merged view lists what umoci raw unpack gives, and reads the same bytes", async () => {
    const view = await MergedView.build(layerFiles("t").map((f) => () => createReadStream(f)))
    const theirs = listTree(rawUnpack("t"))
    const typeName = (r: Row) => r.type.split(" ")[0]
    const mine: string[] = []
    for (const e of view.walk()) {
      const h = e.header
      const type = e.type === "directory" ? "dir" : e.type
      let sha = ""
      if (e.type === "file") {
        const hash = createHash("sha256")
        for await (const c of view.readFile(e.path)) hash.update(c as Buffer)
        sha = hash.digest("hex").slice(0, 16)
      }
      const mode = e.type === "symlink" ? "777" : (h.mode & 0o7777).toString(8)
      mine.push(`${e.path.toString("latin1")} ${type} ${mode} ${h.uid}:${h.gid} ${e.type === "file" ? h.size : 0} ${sha} ${e.type === "symlink" ? h.linkpath.toString("latin1") : ""}`)
    }
    expect(mine.sort()).toEqual(theirs.map((r) => `${r.path} ${typeName(r)} ${r.mode} ${r.owner} ${r.size} ${r.sha} ${r.link}`).sort())
  })

  it.skipIf(!canRun)("umoci applies a layer written by diffDirs and gets the upper tree", async () => {
    const lower = rawUnpack("t")
    const upper = join(tmp.make("upper"), "rootfs")
    execFileSync("cp", ["-a", lower, upper])
    sh("rm -rf opt && echo more >> etc/passwd && mkdir -p new/dir && echo n > new/dir/f && ln -s /etc/passwd new/abs && setfattr -n user.z -v 0x80 etc/conf.d && chmod 711 etc", upper)
    writeFileSync(Buffer.concat([Buffer.from(`${upper}/`), odd]), "odd name changed")
    const layerTar = join(tmp.make("layer"), "l.tar")
    await diffDirs(lower, upper, layerTar, { compression: "none", subsecondMtime: true })
    umoci("raw", "add-layer", "--image", `${layout}:t`, "--tag", "t2", layerTar)
    const theirs = rawUnpack("t2")
    expect(rows(theirs)).toEqual(rows(upper))
  })
})
