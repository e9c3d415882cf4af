// The `mirror` group (opt-in: CAIRN_BENCH_ONLY=mirror, or `node src/mirror.mjs`): 8 concurrent
// skopeo pulls of one image direct from docker-registry, through a cold cairn-api mirror, and
// through the same mirror warm. Reports wall time and the bytes the upstream served (from its
// access log) side by side, and checks every pulled blob against the pushed one.
//   CAIRN_BENCH_MIRROR_MB   size of the image's random layer data (default 256, two layers)
//   CAIRN_BENCH_MIRROR_CLIENTS  concurrent pulls (default 8)
//   CAIRN_BENCH_OUT         results directory (mirror.md and mirror.json are written there)
import { execFile, execFileSync, spawn } from "node:child_process"
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { createHash } from "node:crypto"
import { connect, createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, "..", "..")
const MB = 1e6

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      s.close(() => resolve(a.port))
    })
  })

const listening = (port) =>
  new Promise((resolve) => {
    const c = connect(port, "127.0.0.1")
    c.once("connect", () => {
      c.destroy()
      resolve(true)
    })
    c.once("error", () => resolve(false))
  })

const waitFor = async (port, what) => {
  const deadline = Date.now() + 30_000
  while (!(await listening(port))) {
    if (Date.now() > deadline) throw new Error(`${what} did not start on ${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const sha256File = (path) =>
  new Promise((resolve, reject) => {
    const h = createHash("sha256")
    createReadStream(path).on("data", (c) => h.update(c)).on("end", () => resolve(h.digest("hex"))).on("error", reject)
  })

/** An OCI layout with two gzip layers of random bytes, `mb` MB in all. */
const buildImage = async (dir, mb) => {
  const layout = join(dir, "layout")
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true })
  writeFileSync(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}')
  const layers = []
  for (let i = 0; i < 2; i++) {
    const data = join(dir, `data${i}`)
    mkdirSync(data, { recursive: true })
    execFileSync("sh", ["-c", `head -c ${Math.round((mb * MB) / 2)} /dev/urandom > ${data}/f`])
    const tar = join(dir, `layer${i}.tar`)
    execFileSync("tar", ["-cf", tar, "-C", data, "f"])
    const diffId = `sha256:${await sha256File(tar)}`
    // gzip: skopeo would compress an uncompressed layer on push, and the digests would change
    execFileSync("gzip", ["-1", "-n", tar])
    const hex = await sha256File(`${tar}.gz`)
    execFileSync("mv", [`${tar}.gz`, join(layout, "blobs", "sha256", hex)])
    rmSync(data, { recursive: true, force: true })
    const size = Number(execFileSync("stat", ["-c", "%s", join(layout, "blobs", "sha256", hex)]).toString())
    layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${hex}`, size, diffId })
  }
  const put = (obj) => {
    const bytes = Buffer.from(JSON.stringify(obj))
    const hex = createHash("sha256").update(bytes).digest("hex")
    writeFileSync(join(layout, "blobs", "sha256", hex), bytes)
    return { digest: `sha256:${hex}`, size: bytes.length }
  }
  const config = put({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) }, config: {} })
  const manifest = put({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size }))
  })
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": "latest" } }] })
  )
  return { layout, blobs: [config.digest, ...layers.map((l) => l.digest)], bytes: layers.reduce((n, l) => n + l.size, 0) + config.size }
}

const startRegistry = async (dir) => {
  const port = await freePort()
  writeFileSync(
    join(dir, "registry.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "registry")}\nhttp:\n  addr: 127.0.0.1:${port}\n`
  )
  const child = spawn("/usr/bin/docker-registry", ["serve", join(dir, "registry.yml")], { stdio: ["ignore", "pipe", "pipe"] })
  let log = ""
  child.stdout.setEncoding("utf8").on("data", (d) => (log += d))
  child.stderr.setEncoding("utf8").on("data", (d) => (log += d))
  await waitFor(port, "docker-registry")
  // bytes of blob bodies the registry served (combined log format: "GET path" status bytes)
  const served = () => {
    let bytes = 0
    let gets = 0
    for (const m of log.matchAll(/"GET \/v2\/\S+\/blobs\/sha256:[0-9a-f]{64} HTTP\/[0-9.]+" (?:200|206) (\d+)/g)) {
      bytes += Number(m[1])
      gets++
    }
    return { bytes, gets }
  }
  return { host: `127.0.0.1:${port}`, served, stop: () => child.kill("SIGTERM") }
}

const startMirror = async (dir, upstream) => {
  const port = await freePort()
  const child = spawn(process.execPath, [join(repo, "apps", "api", "bin", "cairn-api.js"), "--root", join(dir, "mirror-root"), "--listen", `127.0.0.1:${port}`, "--mirror", upstream], {
    stdio: ["ignore", "ignore", "inherit"]
  })
  await waitFor(port, "cairn-api --mirror")
  return { host: `127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") }
}

const pullAll = async (host, dir, label, clients, image) => {
  const dests = Array.from({ length: clients }, (_, i) => join(dir, `${label}-${i}`))
  const t0 = process.hrtime.bigint()
  await Promise.all(dests.map((d) => run("skopeo", ["copy", "--src-tls-verify=false", `docker://${host}/bench/img:v1`, `oci:${d}:v1`], { maxBuffer: 1 << 24 })))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  for (const d of dests) {
    const names = readdirSync(join(d, "blobs", "sha256"))
    for (const b of image.blobs.slice(1)) if (!names.includes(b.slice(7))) throw new Error(`${label}: ${d} lacks layer ${b}`)
    for (const name of names) {
      const hex = await sha256File(join(d, "blobs", "sha256", name))
      if (hex !== name) throw new Error(`${label}: ${d} holds a blob sha256:${name} that hashes to sha256:${hex}`)
    }
    rmSync(d, { recursive: true, force: true })
  }
  return seconds
}

export async function runMirrorBench({ out = join(here, "..", "results"), log = console.log } = {}) {
  const mb = Number(process.env.CAIRN_BENCH_MIRROR_MB ?? 256)
  const clients = Number(process.env.CAIRN_BENCH_MIRROR_CLIENTS ?? 8)
  for (const tool of ["/usr/bin/docker-registry", "/usr/bin/skopeo"]) if (!existsSync(tool)) return { skipped: `${tool} is not installed` }
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-mirror-"))
  let registry
  let mirror
  try {
    const image = await buildImage(dir, mb)
    registry = await startRegistry(dir)
    await run("skopeo", ["copy", "--dest-tls-verify=false", `oci:${image.layout}:latest`, `docker://${registry.host}/bench/img:v1`])
    mirror = await startMirror(dir, registry.host)
    const rows = []
    for (const [label, host] of [
      ["direct from docker-registry", registry.host],
      ["through cairn-api mirror, cold", mirror.host],
      ["through cairn-api mirror, warm", mirror.host]
    ]) {
      const before = registry.served()
      const seconds = await pullAll(host, dir, label.replace(/\W+/g, "-"), clients, image)
      const after = registry.served()
      rows.push({ label, seconds, upstreamBytes: after.bytes - before.bytes, upstreamBlobGets: after.gets - before.gets })
      log(`mirror: ${label}: ${seconds.toFixed(2)} s, upstream served ${((after.bytes - before.bytes) / MB).toFixed(1)} MB in ${after.gets - before.gets} blob GETs`)
    }
    const result = { clients, imageBytes: image.bytes, blobs: image.blobs.length, rows }
    const md = [
      `# Mirror: ${clients} concurrent pulls of one ${(image.bytes / MB).toFixed(0)} MB image (${image.blobs.length} blobs)`,
      "",
      "| path | wall time (s) | upstream bytes (MB) | upstream blob GETs | time vs direct |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...rows.map((r) => `| ${r.label} | ${r.seconds.toFixed(2)} | ${(r.upstreamBytes / MB).toFixed(1)} | ${r.upstreamBlobGets} | ${(r.seconds / rows[0].seconds).toFixed(2)}× |`),
      "",
      "Every client's blobs were hashed after its pull. Upstream bytes are what docker-registry's access log says it served.",
      ""
    ].join("\n")
    mkdirSync(out, { recursive: true })
    writeFileSync(join(out, "mirror.md"), md)
    writeFileSync(join(out, "mirror.json"), JSON.stringify(result, null, 2))
    log(md)
    return result
  } finally {
    mirror?.stop()
    registry?.stop()
    await new Promise((r) => setTimeout(r, 300))
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runMirrorBench({ out: process.env.CAIRN_BENCH_OUT ?? join(here, "..", "results") }).catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
