// The benchmark corpus: built once per scale on this machine, cached under benchmarks/.corpus/,
// stored as one OCI image layout so that every tool reads the same bytes.
//   libs   one gzip layer of real shared libraries from /usr/lib (~600 MB at scale 1)
//   small  one gzip layer of ~50,000 small files, pseudo-random 0-8 KiB
//   large  one gzip layer holding a single ~1 GiB pseudo-random file
//   multi  a multi-layer image made with umoci (repack) + one opaque-dir layer (raw add-layer)
//   pull   libs + small + large as one 3-layer image (the same blobs), for the pull benchmark
// Tars are made with GNU tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner
// and compressed with `gzip -6 -n`, so the bytes depend only on the inputs.
import { execFileSync } from "node:child_process"
import { createCipheriv, createHash } from "node:crypto"
import { createWriteStream, existsSync, lstatSync, readdirSync, statSync } from "node:fs"
import { chmod, copyFile, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { listTree, sha256File } from "./listing.mjs"

export const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const CORPUS_VERSION = 1
const MB = 1e6

/** @param {string} cmd @param {string[]} args @param {import("node:child_process").ExecFileSyncOptions} [opts] */
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 30, ...opts })
const log = (/** @type {string} */ m) => process.stderr.write(`[corpus] ${m}\n`)

/** Deterministic PRNG (mulberry32): the corpus must not depend on Math.random. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = "layer blob digest manifest config tar gzip whiteout opaque overlay mount snapshot chain store index registry pull push verify extract lower upper merged work container image rootfs bundle".split(" ")

/** Semi-compressible text-like bytes (what config files, scripts and sources look like). */
function textBytes(rand, n) {
  const parts = []
  let len = 0
  while (len < n) {
    const w = WORDS[Math.floor(rand() * WORDS.length)]
    const tail = rand() < 0.1 ? `${Math.floor(rand() * 1e6)}\n` : " "
    parts.push(w, tail)
    len += w.length + tail.length
  }
  return Buffer.from(parts.join("")).subarray(0, n)
}

/** Keystream of AES-128-CTR with a fixed key: fast, deterministic, incompressible. */
function keystream(seed) {
  const key = createHash("sha256").update(`cairn-bench-${seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16))
  return (/** @type {number} */ n) => cipher.update(Buffer.alloc(n))
}

/** Shared-library paths under /usr/lib in byte order, up to `budget` bytes of regular files. */
function selectLibs(budget) {
  /** @type {Array<{ path: string, size: number, link: boolean }>} */
  const picked = []
  let total = 0
  const isLib = (/** @type {string} */ n) => /\.so(\.[0-9]+)*$/.test(n)
  /** @param {string} dir */
  const visit = (dir) => {
    let names
    try {
      names = readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    } catch {
      return
    }
    for (const name of names) {
      if (total >= budget) return
      const p = `${dir}/${name}`
      const st = lstatSync(p)
      if (st.isDirectory()) visit(p)
      else if (st.isSymbolicLink() && isLib(name)) picked.push({ path: p, size: 0, link: true })
      else if (st.isFile() && isLib(name)) {
        picked.push({ path: p, size: st.size, link: false })
        total += st.size
      }
    }
  }
  visit("/usr/lib")
  return { picked, total }
}

/**
 * tar + gzip a staged tree the deterministic way; returns the raw tar path and blob path.
 * @param {string} stage @param {string[]} top @param {string} rawTar @param {string} gzPath
 */
function makeLayer(stage, top, rawTar, gzPath, { keepOwners = false } = {}) {
  run("tar", [
    "--create", "--file", rawTar, "--format=posix",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "--sort=name", "--mtime=@0", ...(keepOwners ? [] : ["--owner=0", "--group=0"]), "--numeric-owner",
    "-C", stage, ...top
  ])
  run("sh", ["-c", 'gzip -6 -n -c "$1" > "$2"', "sh", rawTar, gzPath])
}

/** Adds an image of `layers` (bottom first) to the OCI layout at `oci`, tagged `tag` (image-spec v1.1 layout). */
async function addImage(oci, tag, layers) {
  const blobs = join(oci, "blobs", "sha256")
  const putBlob = async (bytes) => {
    const hex = createHash("sha256").update(bytes).digest("hex")
    // content-addressed: a blob already there holds these bytes (another run may be reading it)
    const path = join(blobs, hex)
    if (!existsSync(path)) {
      await writeFile(`${path}.tmp-${process.pid}`, bytes)
      await rename(`${path}.tmp-${process.pid}`, path)
    }
    return { digest: `sha256:${hex}`, size: bytes.length }
  }
  const config = Buffer.from(JSON.stringify({
    created: "1970-01-01T00:00:00Z", architecture: "amd64", os: "linux",
    config: {}, rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: "1970-01-01T00:00:00Z", created_by: "cairn benchmarks corpus" }))
  }))
  const cfg = await putBlob(config)
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...cfg },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size }))
  }))
  const man = await putBlob(manifest)
  const indexPath = join(oci, "index.json")
  const index = JSON.parse(await readFile(indexPath, "utf8"))
  index.manifests = (index.manifests ?? []).filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== tag)
  index.manifests.push({ mediaType: "application/vnd.oci.image.manifest.v1+json", ...man, annotations: { "org.opencontainers.image.ref.name": tag } })
  await writeFile(`${indexPath}.tmp-${process.pid}`, JSON.stringify(index))
  await rename(`${indexPath}.tmp-${process.pid}`, indexPath)
}

/** Reads an image's manifest + config from the layout: layer blobs and diffIDs in order. */
export async function imageLayers(oci, tag) {
  const index = JSON.parse(await readFile(join(oci, "index.json"), "utf8"))
  const desc = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag)
  if (!desc) throw new Error(`no image tagged ${tag} in ${oci}`)
  const blob = (d) => join(oci, "blobs", "sha256", d.slice("sha256:".length))
  const manifest = JSON.parse(await readFile(blob(desc.digest), "utf8"))
  const config = JSON.parse(await readFile(blob(manifest.config.digest), "utf8"))
  return manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, diffId: config.rootfs.diff_ids[i], path: blob(l.digest), mediaType: l.mediaType }))
}

/** Writes `n` bytes from `gen(chunk)` into `path`. */
async function writeGenerated(path, n, gen) {
  const out = createWriteStream(path)
  for (let at = 0; at < n; ) {
    const len = Math.min(1 << 20, n - at)
    if (!out.write(gen(len, at))) await new Promise((r) => out.once("drain", r))
    at += len
  }
  await new Promise((res, rej) => out.end((/** @type {Error | undefined} */ e) => (e ? rej(e) : res(undefined))))
}

async function stageLibs(stage, scale) {
  const { picked, total } = selectLibs(600 * MB * scale)
  for (const f of picked) {
    const dest = join(stage, f.path)
    await mkdir(dirname(dest), { recursive: true })
    if (f.link) await symlink(await readlink(f.path), dest)
    else {
      await copyFile(f.path, dest)
      await chmod(dest, statSync(f.path).mode & 0o7777)
    }
  }
  log(`libs: ${picked.length} entries, ${(total / MB).toFixed(0)} MB of shared libraries from /usr/lib`)
  return ["usr"]
}

async function stageSmall(stage, scale, count = Math.max(50, Math.round(50_000 * scale)), seed = 1) {
  const rand = prng(seed)
  for (let i = 0; i < count; i++) {
    const dir = join(stage, "data", `d${String(Math.floor(i / 1000)).padStart(3, "0")}`, `e${String(Math.floor(i / 50) % 20).padStart(2, "0")}`)
    if (i % 50 === 0) await mkdir(dir, { recursive: true })
    await writeFile(join(dir, `f${String(i).padStart(6, "0")}.txt`), textBytes(rand, Math.floor(rand() * 8193)))
  }
  log(`small: ${count} files`)
  return ["data"]
}

async function stageLarge(stage, scale) {
  const n = Math.max(1 << 20, Math.round(1024 ** 3 * scale))
  await mkdir(join(stage, "data"), { recursive: true })
  const ks = keystream(7)
  const rand = prng(7)
  // alternate incompressible MiBs with text MiBs, so gzip has real work both ways (~60% ratio)
  let i = 0
  await writeGenerated(join(stage, "data", "large.bin"), n, (len) => (i++ % 2 === 0 ? ks(len) : textBytes(rand, len)))
  log(`large: one file of ${(n / MB).toFixed(0)} MB`)
  return ["data"]
}

/** Multi-layer image with umoci: init/new/unpack, change the rootfs, repack, several times. */
async function buildMulti(root, oci, scale) {
  const bundle = join(root, "bundle")
  const rootfs = join(bundle, "rootfs")
  run("umoci", ["new", "--image", `${oci}:multi`])
  run("umoci", ["unpack", "--image", `${oci}:multi`, bundle])
  // layer 1: a base of shared libraries + many small files + dirs to be replaced later
  const { picked } = selectLibs(150 * MB * scale)
  for (const f of picked) {
    const dest = join(rootfs, f.path)
    await mkdir(dirname(dest), { recursive: true })
    if (f.link) await symlink(await readlink(f.path), dest)
    else await copyFile(f.path, dest)
  }
  await stageSmall(rootfs, scale / 5, undefined, 11)
  for (const d of ["etc/app", "opaque/keep", "replace-dir/sub", "var/cache"]) await mkdir(join(rootfs, d), { recursive: true })
  for (let i = 0; i < 20; i++) {
    await writeFile(join(rootfs, "opaque", `old-${i}.txt`), `old ${i}\n`)
    await writeFile(join(rootfs, "opaque", "keep", `nested-${i}.txt`), `nested ${i}\n`)
    await writeFile(join(rootfs, "replace-dir", "sub", `x-${i}`), `x ${i}\n`)
    await writeFile(join(rootfs, "var", "cache", `c-${i}.bin`), keystream(i)(4096 * (i + 1)))
  }
  await writeFile(join(rootfs, "replace-file"), "a file that becomes a directory\n")
  await writeFile(join(rootfs, "etc", "app", "config.json"), '{"v":1}\n')
  run("umoci", ["repack", "--refresh-bundle", "--image", `${oci}:multi`, bundle])
  // layer 2: deletions (whiteouts), modifications, additions
  const rand = prng(2)
  const dataDirs = readdirSync(join(rootfs, "data")).sort()
  for (const d of dataDirs) {
    for (const e of readdirSync(join(rootfs, "data", d)).sort()) {
      const dir = join(rootfs, "data", d, e)
      for (const f of readdirSync(dir).sort()) if (rand() < 0.15) await rm(join(dir, f))
    }
  }
  if (dataDirs.length > 1) await rm(join(rootfs, "data", dataDirs[1]), { recursive: true })
  await rm(join(rootfs, "var", "cache"), { recursive: true })
  await writeFile(join(rootfs, "etc", "app", "config.json"), '{"v":2}\n')
  await stageSmall(join(rootfs, "added"), scale / 20, undefined, 12)
  run("umoci", ["repack", "--refresh-bundle", "--image", `${oci}:multi`, bundle])
  // layer 3: a directory replaced by a file and a file by a directory
  await rm(join(rootfs, "replace-dir"), { recursive: true })
  await writeFile(join(rootfs, "replace-dir"), "now a file\n")
  await rm(join(rootfs, "replace-file"))
  await mkdir(join(rootfs, "replace-file"))
  await writeFile(join(rootfs, "replace-file", "inside"), "now a directory\n")
  run("umoci", ["repack", "--refresh-bundle", "--image", `${oci}:multi`, bundle])
  await rm(bundle, { recursive: true })
  // layer 4: an opaque directory (umoci repack emits per-file whiteouts, not .wh..wh..opq,
  // so this layer is a hand-made tar added with umoci raw add-layer)
  const opq = join(root, "opq")
  await mkdir(join(opq, "opaque"), { recursive: true })
  await writeFile(join(opq, "opaque", ".wh..wh..opq"), "")
  await writeFile(join(opq, "opaque", "new.txt"), "only this survives\n")
  const opqTar = join(root, "opq.tar")
  run("tar", ["--create", "--file", opqTar, "--format=posix", "--pax-option=delete=atime,delete=ctime", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", opq, "opaque"])
  run("umoci", ["raw", "add-layer", "--image", `${oci}:multi`, opqTar])
  await rm(opq, { recursive: true })
  await rm(opqTar)
  // the expected tree: umoci's own unpack of the final image (the reference cairn must match)
  const check = join(root, "multi-check")
  run("umoci", ["raw", "unpack", "--image", `${oci}:multi`, check])
  const expected = await listTree(check)
  await rm(check, { recursive: true })
  return expected
}

/**
 * The corpus for `scale`, built when missing. Returns its description.
 * @param {{ scale?: number, dir?: string }} [opts]
 */
export async function ensureCorpus(opts = {}) {
  const scale = opts.scale ?? 1
  const root = opts.dir ?? join(benchDir, ".corpus", `v${CORPUS_VERSION}-scale-${scale}`)
  const manifestPath = join(root, "corpus.json")
  if (existsSync(manifestPath)) {
    const cached = JSON.parse(await readFile(manifestPath, "utf8"))
    if (cached.corpora.pull) return cached
    // a corpus built before the pull image existed: add it from the blobs already there
    await addPullImage(cached)
    await writeFile(`${manifestPath}.tmp`, JSON.stringify(cached, null, 2))
    await rename(`${manifestPath}.tmp`, manifestPath)
    return cached
  }
  log(`building the corpus at scale ${scale} in ${root} (cached for later runs)`)
  await rm(root, { recursive: true, force: true })
  await mkdir(join(root, "raw"), { recursive: true })
  const oci = join(root, "oci")
  run("umoci", ["init", "--layout", oci])
  const started = Date.now()
  const multiExpected = await buildMulti(root, oci, scale)
  const corpora = {}
  for (const [name, stageFn] of /** @type {const} */ ([["libs", stageLibs], ["small", stageSmall], ["large", stageLarge]])) {
    const stage = join(root, `stage-${name}`)
    await mkdir(stage, { recursive: true })
    const top = await stageFn(stage, scale)
    const expected = await listTree(stage)
    const rawTar = join(root, "raw", `${name}.tar`)
    const gz = join(root, `${name}.tar.gz`)
    makeLayer(stage, top, rawTar, gz)
    await rm(stage, { recursive: true })
    const digest = `sha256:${await sha256File(gz)}`
    const diffId = `sha256:${await sha256File(rawTar)}`
    const size = statSync(gz).size
    await rename(gz, join(oci, "blobs", "sha256", digest.slice(7)))
    await addImage(oci, name, [{ digest, diffId, size }])
    await writeFile(join(root, `${name}.expected.json`), JSON.stringify(expected))
    corpora[name] = { name, tag: name, layers: 1, digest, diffId, compressedBytes: size, tarBytes: statSync(rawTar).size, rawTar, files: expected.files, entries: expected.entries.length }
    log(`${name}: ${(statSync(rawTar).size / MB).toFixed(0)} MB tar, ${(size / MB).toFixed(0)} MB gzip, ${expected.files} files`)
  }
  await writeFile(join(root, "multi.expected.json"), JSON.stringify(multiExpected))
  const layers = await imageLayers(oci, "multi")
  let tarBytes = 0
  for (const l of layers) {
    const out = run("sh", ["-c", 'gzip -dc "$1" | wc -c', "sh", l.path])
    tarBytes += Number(String(out).trim())
  }
  corpora.multi = { name: "multi", tag: "multi", layers: layers.length, compressedBytes: layers.reduce((s, l) => s + l.size, 0), tarBytes, files: multiExpected.files, entries: multiExpected.entries.length }
  const desc = { version: CORPUS_VERSION, scale, root, oci, corpora, builtSeconds: (Date.now() - started) / 1000 }
  await addPullImage(desc)
  await writeFile(`${manifestPath}.tmp`, JSON.stringify(desc, null, 2))
  await rename(`${manifestPath}.tmp`, manifestPath)
  log(`done in ${desc.builtSeconds.toFixed(0)} s`)
  return desc
}

/**
 * Optional corpus `debian`: a debootstrapped Debian (`debootstrap --variant=minbase bookworm`, from
 * the Debian mirror) as one layer, with its real owners, modes, hard links and symlinks; /dev
 * emptied (device nodes are the runtime's business, as in Debian's own images). The rootfs is
 * cached in `.corpus/debian-minbase-bookworm/` (it does not depend on the scale), the layer added
 * to the scale's layout on first use. Throws with the reason when debootstrap is missing or fails.
 * @param {{ root: string, oci: string, corpora: Record<string, any> }} desc
 */
export async function ensureDebian(desc) {
  if (desc.corpora.debian) return desc.corpora.debian
  const rootfs = join(benchDir, ".corpus", "debian-minbase-bookworm")
  const done = `${rootfs}.done`
  if (!existsSync(done)) {
    try {
      execFileSync("sh", ["-c", "command -v debootstrap"], { stdio: "ignore" })
    } catch {
      throw new Error("debootstrap is not installed (Debian package debootstrap)")
    }
    log("debootstrap --variant=minbase bookworm (needs the Debian mirror; cached for later runs)")
    await rm(rootfs, { recursive: true, force: true })
    try {
      execFileSync("debootstrap", ["--variant=minbase", "bookworm", rootfs], { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 1 << 26, timeout: 1_200_000 })
    } catch (e) {
      await rm(rootfs, { recursive: true, force: true })
      throw new Error(`debootstrap --variant=minbase bookworm failed: ${String(/** @type {any} */ (e).stderr ?? e).trim().split("\n").slice(-2).join(" / ")}`)
    }
    for (const n of readdirSync(join(rootfs, "dev"))) await rm(join(rootfs, "dev", n), { recursive: true, force: true })
    await writeFile(done, "")
  }
  const expected = await listTree(rootfs)
  const rawTar = join(desc.root, "raw", "debian.tar")
  const gz = join(desc.root, "debian.tar.gz")
  makeLayer(rootfs, readdirSync(rootfs).sort(), rawTar, gz, { keepOwners: true })
  const digest = `sha256:${await sha256File(gz)}`
  const diffId = `sha256:${await sha256File(rawTar)}`
  const size = statSync(gz).size
  await rename(gz, join(desc.oci, "blobs", "sha256", digest.slice(7)))
  await addImage(desc.oci, "debian", [{ digest, diffId, size }])
  await writeFile(join(desc.root, "debian.expected.json"), JSON.stringify(expected))
  desc.corpora.debian = { name: "debian", tag: "debian", layers: 1, digest, diffId, compressedBytes: size, tarBytes: statSync(rawTar).size, rawTar, files: expected.files, entries: expected.entries.length }
  const manifestPath = join(desc.root, "corpus.json")
  await writeFile(`${manifestPath}.tmp`, JSON.stringify(desc, null, 2))
  await rename(`${manifestPath}.tmp`, manifestPath)
  log(`debian: ${(statSync(rawTar).size / MB).toFixed(0)} MB tar, ${(size / MB).toFixed(0)} MB gzip, ${expected.files} files`)
  return desc.corpora.debian
}

/** The single-layer corpora stacked, bottom first, as the pull benchmark's image (`pull`). */
export const PULL_PARTS = /** @type {const} */ (["libs", "small", "large"])

/**
 * Adds the `pull` image to the layout: one manifest + config over the blobs of the libs, small
 * and large layers (≥ 500 MB of gzip at scale 1, issue 7), so nothing is compressed again.
 * Deterministic: the same blobs give the same manifest digest. Records it in `desc.corpora.pull`.
 * @param {{ root: string, oci: string, corpora: Record<string, any> }} desc
 */
async function addPullImage(desc) {
  const layers = []
  const listings = []
  for (const part of PULL_PARTS) {
    const [layer] = await imageLayers(desc.oci, part)
    layers.push(layer)
    listings.push(await expectedListing(desc, part))
  }
  await addImage(desc.oci, "pull", layers)
  // the layers are disjoint trees but for shared parent dirs (data/ of small and large)
  const entries = new Set(listings.flatMap((l) => l.entries)).size
  desc.corpora.pull = {
    name: "pull",
    tag: "pull",
    layers: layers.length,
    parts: [...PULL_PARTS],
    compressedBytes: layers.reduce((s, l) => s + l.size, 0),
    tarBytes: PULL_PARTS.reduce((s, p) => s + desc.corpora[p].tarBytes, 0),
    files: listings.reduce((s, l) => s + l.files, 0),
    entries
  }
  log(`pull: ${PULL_PARTS.join(" + ")} as one ${layers.length}-layer image, ${(desc.corpora.pull.compressedBytes / MB).toFixed(0)} MB gzip, ${(desc.corpora.pull.tarBytes / MB).toFixed(0)} MB tar`)
}

/** @param {{ root: string }} corpus @param {string} name */
export async function expectedListing(corpus, name) {
  return JSON.parse(await readFile(join(corpus.root, `${name}.expected.json`), "utf8"))
}

/** Scale from the environment: CAIRN_BENCH_SCALE, else 0.02 in quick mode, else 1. */
export function scaleFromEnv(env = process.env) {
  if (env.CAIRN_BENCH_SCALE) return Number(env.CAIRN_BENCH_SCALE)
  return env.CAIRN_BENCH_QUICK === "1" ? 0.02 : 1
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const c = await ensureCorpus({ scale: scaleFromEnv() })
  console.log(JSON.stringify(c, null, 2))
}
