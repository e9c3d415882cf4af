// Pull throughput from a local docker-registry: cairn (into a verifying temp-dir store) versus
// `skopeo copy docker://... oci:...`, same image, same machine, alternating runs, medians.
// Usage: node bench/pull-vs-skopeo.mjs [--mb 512] [--layers 8] [--runs 5] [--concurrency 4] [--json FILE]
import { execFile, execFileSync, spawn } from "node:child_process"
import { createHash, randomFillSync } from "node:crypto"
import { createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { finished } from "node:stream/promises"
import { parseArgs, promisify } from "node:util"
import { pullImage, pushImage, RegistryClient, staticCredentials } from "../dist/index.js"

const { values } = parseArgs({
  options: {
    mb: { type: "string", default: "512" },
    layers: { type: "string", default: "8" },
    runs: { type: "string", default: "5" },
    concurrency: { type: "string", default: "4" },
    json: { type: "string" }
  }
})
const totalMB = Number(values.mb)
const nLayers = Number(values.layers)
const runs = Number(values.runs)
const concurrency = Number(values.concurrency)
const run = promisify(execFile)

for (const bin of ["/usr/bin/docker-registry", "/usr/bin/skopeo"]) {
  if (!existsSync(bin)) {
    console.error(`missing ${bin}: apt-get install docker-registry skopeo`)
    process.exit(2)
  }
}

const work = mkdtempSync(join(tmpdir(), "cairn-pull-bench-"))
const port = await new Promise((resolve) => {
  const s = createServer()
  s.listen(0, "127.0.0.1", () => {
    const p = s.address().port
    s.close(() => resolve(p))
  })
})
writeFileSync(
  join(work, "config.yml"),
  `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n`
)
const registry = spawn("/usr/bin/docker-registry", ["serve", join(work, "config.yml")], { stdio: "ignore" })
const host = `127.0.0.1:${port}`
let cleaned = false
const cleanup = () => {
  if (cleaned) return
  cleaned = true
  registry.kill("SIGTERM")
  rmSync(work, { recursive: true, force: true })
}
process.on("exit", cleanup)
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanup()
    process.exit(130)
  })
}
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`http://${host}/v2/`)).ok) break
  } catch {}
  if (i > 200) throw new Error("docker-registry did not start")
  await new Promise((r) => setTimeout(r, 50))
}

// ---- the image: incompressible layers (random bytes), an OCI config and manifest
const blobs = new Map()
const sha = (b) => `sha256:${createHash("sha256").update(b).digest("hex")}`
const add = (bytes, mediaType) => {
  const digest = sha(bytes)
  blobs.set(digest, bytes)
  return { mediaType, digest, size: bytes.length }
}
const layerSize = Math.floor((totalMB * 1024 * 1024) / nLayers)
const layers = []
for (let i = 0; i < nLayers; i++) layers.push(add(randomFillSync(Buffer.allocUnsafe(layerSize)), "application/vnd.oci.image.layer.v1.tar"))
const config = add(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) } })), "application/vnd.oci.image.config.v1+json")
const manifest = add(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers })), "application/vnd.oci.image.manifest.v1+json")
const source = {
  async stat(d) {
    const b = blobs.get(d)
    return b && { size: b.length }
  },
  async open(d) {
    const b = blobs.get(d)
    const parts = []
    for (let i = 0; i < b.length; i += 1 << 20) parts.push(b.subarray(i, i + (1 << 20)))
    return Readable.from(parts)
  }
}
const client = new RegistryClient({ credentials: staticCredentials({}) })
await pushImage(client, source, manifest.digest, `${host}/bench/big:1`)
blobs.clear()

// ---- a store like @cairn/cas's: ingest file, sha256 while writing, rename when verified
class DirStore {
  constructor(dir) {
    this.dir = dir
    mkdirSync(join(dir, "ingest"), { recursive: true })
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  }
  path(d) {
    return join(this.dir, "blobs", "sha256", d.slice(7))
  }
  async has(d) {
    return existsSync(this.path(d))
  }
  async put(desc, data) {
    const tmp = join(this.dir, "ingest", desc.digest.slice(7))
    const out = createWriteStream(tmp)
    const h = createHash("sha256")
    let n = 0
    for await (const c of data) {
      h.update(c)
      n += c.length
      if (!out.write(c)) await new Promise((r) => out.once("drain", r))
    }
    out.end()
    await finished(out)
    if (n !== desc.size || `sha256:${h.digest("hex")}` !== desc.digest) throw new Error(`bad blob ${desc.digest}`)
    renameSync(tmp, this.path(desc.digest))
    return { created: true }
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const bytes = layers.reduce((n, l) => n + l.size, 0) + config.size
const results = { cairn: [], "cairn (sink-only verify)": [], skopeo: [] }
const cases = {
  cairn: async (dir) => {
    await pullImage(client, `${host}/bench/big:1`, new DirStore(dir), { concurrency })
  },
  "cairn (sink-only verify)": async (dir) => {
    await pullImage(client, `${host}/bench/big:1`, new DirStore(dir), { concurrency, verify: false })
  },
  skopeo: async (dir) => {
    await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${host}/bench/big:1`, `oci:${dir}:big`])
  }
}
console.log(`image: ${nLayers} layers, ${(bytes / 1e6).toFixed(0)} MB; ${runs} runs each, alternating; cairn concurrency ${concurrency}`)
for (let i = 0; i < runs; i++) {
  for (const [name, fn] of Object.entries(cases)) {
    const dir = mkdtempSync(join(work, "out-"))
    execFileSync("sync")
    const t0 = process.hrtime.bigint()
    await fn(dir)
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    results[name].push(s)
    rmSync(dir, { recursive: true, force: true })
  }
}
client.close()
const rows = Object.entries(results).map(([name, xs]) => ({ name, median: median(xs), mbps: bytes / 1e6 / median(xs), runs: xs }))
const skopeo = rows.find((r) => r.name === "skopeo").median
console.log("\n| tool | median s | MB/s | vs skopeo | runs (s) |\n| --- | --- | --- | --- | --- |")
for (const r of rows) {
  console.log(`| ${r.name} | ${r.median.toFixed(2)} | ${r.mbps.toFixed(0)} | ${(skopeo / r.median).toFixed(2)}x | ${r.runs.map((x) => x.toFixed(2)).join(" ")} |`)
}
if (values.json) writeFileSync(values.json, JSON.stringify({ bytes, layers: nLayers, runs, concurrency, rows }, null, 2))
// the registry child and keep-alive sockets would keep the loop alive
cleanup()
process.exit(0)
