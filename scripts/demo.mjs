// The README's main job: build a small real image from files on this machine with cairn's own
// libraries, then drive the `cairn` CLI through the container workflow: import, create, mount,
// change files, diff, commit, history, disk usage, fsck. Usage: npm run demo [-- --root DIR]
import { execFileSync, spawnSync } from "node:child_process"
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Store } from "@cairn/cas"
import { encodeCanonical, hostPlatform, OciMediaType } from "@cairn/oci-spec"
import { diffDirs } from "@cairn/overlay"

const { values } = parseArgs({ options: { root: { type: "string" }, keep: { type: "boolean" } } })
const work = mkdtempSync(join(tmpdir(), "cairn-demo-"))
const root = values.root ?? join(work, "root")
const cli = join(import.meta.dirname, "../apps/cli/bin/cairn.js")
const bold = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s)

function cairn(...args) {
  const shown = args.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(" ")
  console.log(bold(`\n$ cairn ${shown}`))
  const r = spawnSync(process.execPath, [cli, "--root", root, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
  process.stdout.write(r.stdout)
  if (r.status !== 0) throw new Error(`cairn ${args.join(" ")} exited with ${r.status}`)
  return r.stdout.trim()
}

// 1. a root filesystem from files on this machine
const rootfs = join(work, "rootfs")
for (const d of ["bin", "etc", "tmp"]) mkdirSync(join(rootfs, d), { recursive: true })
const busybox = ["/bin/busybox", "/usr/bin/busybox"].find(existsSync)
if (busybox) {
  copyFileSync(busybox, join(rootfs, "bin/busybox"))
  for (const app of ["sh", "ls", "cat", "echo"]) symlinkSync("busybox", join(rootfs, "bin", app))
}
for (const f of ["/etc/os-release", "/etc/hostname", "/etc/services"].filter(existsSync)) copyFileSync(f, join(rootfs, "etc", f.split("/").pop()))
writeFileSync(join(rootfs, "etc/motd"), "built by cairn's demo\n")
writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")

// 2. one layer (a diff of the tree against nothing), a config and a manifest, in an OCI layout
console.log(bold(`building an image from ${busybox ?? "files"} and /etc into an OCI layout`))
const layout = join(work, "layout")
const empty = join(work, "empty")
mkdirSync(empty)
const layerFile = join(work, "layer.tar.gz")
const layer = await diffDirs(empty, rootfs, layerFile, { compression: "gzip", mtime: 0 })
const store = await Store.open(layout, { create: true })
await store.put({ digest: layer.digest, size: layer.size }, createReadStream(layerFile))
const platform = hostPlatform()
const created = new Date().toISOString()
const config = await encodeCanonical({
  architecture: platform.architecture,
  os: platform.os,
  created,
  config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"] },
  rootfs: { type: "layers", diff_ids: [layer.diffId] },
  history: [{ created, created_by: "cairn demo: files from this machine" }]
})
await store.put(Buffer.from(config.bytes), { digest: config.digest, size: config.size })
const manifest = await encodeCanonical({
  schemaVersion: 2,
  mediaType: OciMediaType.ImageManifest,
  config: { mediaType: OciMediaType.ImageConfig, digest: config.digest, size: config.size },
  layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }]
})
await store.put(Buffer.from(manifest.bytes), { digest: manifest.digest, size: manifest.size })
await store.tag("1.0", { mediaType: OciMediaType.ImageManifest, digest: manifest.digest, size: manifest.size })
console.log(`layer ${layer.digest} (${layer.size} bytes), diffID ${layer.diffId}`)

// 3. the container workflow, through the CLI
let id
try {
  cairn("import", `oci:${layout}:1.0`, "demo:1.0")
  cairn("images")
  id = cairn("create", "--name", "demo-box", "demo:1.0")
  const mnt = cairn("mount", "demo-box")
  console.log(bold(`# change files inside ${mnt}`))
  writeFileSync(join(mnt, "hello.txt"), "hello from a container\n")
  writeFileSync(join(mnt, "etc/motd"), "changed in a container\n")
  unlinkSync(join(mnt, "etc/passwd"))
  cairn("diff", "demo-box")
  cairn("commit", "-m", "said hello", "demo-box", "demo:2.0")
  cairn("umount", "demo-box")
  cairn("history", "demo:2.0")
  cairn("cat", "demo:2.0", "/hello.txt")
  cairn("ls", "demo:2.0", "/etc")
  cairn("df", "-v")
  cairn("fsck", "--quiet")
  if (spawnSync("sh", ["-c", "command -v skopeo"]).status === 0) {
    console.log(bold(`\n$ skopeo inspect oci:${root}:demo:2.0   # the root is a plain OCI layout`))
    console.log(execFileSync("skopeo", ["inspect", "--format", "{{.Digest}} {{.Layers}}", `oci:${root}:demo:2.0`], { encoding: "utf8" }).trim())
  }
  console.log(bold(`\ndemo done: root ${root}${values.keep ? "" : " (removed; pass --keep to keep it)"}`))
} finally {
  if (id) spawnSync(process.execPath, [cli, "--root", root, "rm", "--force", "demo-box"], { stdio: "ignore" })
  if (!values.keep) rmSync(work, { recursive: true, force: true })
  else console.log(`work files in ${work}`)
}
