#!/usr/bin/env node
// Bounded load test (not a timed test): cairn-api as a child process on loopback, then
// LOAD_SECONDS (default 30) of concurrent blob GETs and manifest HEADs at the same time:
// the GETs from autocannon, the HEADs from a keep-alive node:http loop, because autocannon
// (and Debian's wrk 4.1) wait for a body after a HEAD response that carries Content-Length,
// which distribution-spec requires. Prints requests/s, latency percentiles and errors, and
// the same as JSON on the last line. Needs a build first (npm run build): it runs the bin.
import { spawn } from "node:child_process"
import * as http from "node:http"
import { cpus, loadavg } from "node:os"
import { createHash, randomBytes } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import autocannon from "autocannon"

const seconds = Number(process.env.LOAD_SECONDS ?? 30)
const connections = Number(process.env.LOAD_CONNECTIONS ?? 16)
const blobBytes = Number(process.env.LOAD_BLOB_KB ?? 64) * 1024
const sha = (b) => `sha256:${createHash("sha256").update(b).digest("hex")}`

const root = await mkdtemp(join(tmpdir(), "cairn-api-load-"))
const bin = fileURLToPath(new URL("../bin/cairn-api.js", import.meta.url))
const child = spawn(process.execPath, [bin, "--root", root, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] })
const url = await new Promise((resolve, reject) => {
  let out = ""
  child.stdout.on("data", (c) => {
    out += c
    const m = /listening on (http:\/\/\S+)/.exec(out)
    if (m) resolve(m[1])
  })
  child.on("exit", (code) => reject(new Error(`cairn-api exited with ${code}`)))
})

try {
  const blob = randomBytes(blobBytes)
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
  for (const b of [blob, config]) {
    const r = await fetch(`${url}/v2/load/app/blobs/uploads/?digest=${sha(b)}`, { method: "POST", body: b })
    if (r.status !== 201) throw new Error(`blob push: ${r.status}`)
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(blob), size: blob.length }]
  })
  const put = await fetch(`${url}/v2/load/app/manifests/latest`, { method: "PUT", body: manifest, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } })
  if (put.status !== 201) throw new Error(`manifest push: ${put.status}`)

  const half = Math.max(1, connections >> 1)
  console.log(`cairn-api load: ${seconds}s on ${url}: ${half} connections of blob GETs (${blobBytes} bytes, autocannon) + ${half} of manifest HEADs by tag (node:http keep-alive)`)
  const gets = autocannon({ url, connections: half, duration: seconds, requests: [{ method: "GET", path: `/v2/load/app/blobs/${sha(blob)}` }] })
  const heads = headLoop(url, "/v2/load/app/manifests/latest", half, seconds * 1000)
  const [g, h] = await Promise.all([gets, heads])
  const summary = {
    seconds,
    machine: { cpus: cpus().length, loadavg1m: Number(loadavg()[0].toFixed(2)), node: process.version },
    blobGet: {
      tool: "autocannon",
      connections: half,
      blobBytes,
      requests: g.requests.total,
      requestsPerSecond: g.requests.average,
      latencyMs: { p50: g.latency.p50, p99: g.latency.p99, max: g.latency.max },
      throughputMBps: g.throughput.average / 1e6,
      errors: g.errors + g.timeouts + g.non2xx
    },
    manifestHead: { tool: "node:http", connections: half, ...h }
  }
  summary.requestsPerSecond = summary.blobGet.requestsPerSecond + summary.manifestHead.requestsPerSecond
  summary.errors = summary.blobGet.errors + summary.manifestHead.errors
  const line = (name, r) => `${name}: ${r.requestsPerSecond.toFixed(0)} req/s  p50 ${r.latencyMs.p50} ms  p99 ${r.latencyMs.p99} ms  max ${r.latencyMs.max} ms  errors ${r.errors}  (${r.requests} requests)`
  console.log(line("blob GET     ", summary.blobGet))
  console.log(line("manifest HEAD", summary.manifestHead))
  console.log(`total: ${summary.requestsPerSecond.toFixed(0)} req/s, errors ${summary.errors}; ${summary.machine.cpus} CPUs, load average ${summary.machine.loadavg1m} at the end`)
  console.log(JSON.stringify(summary))
  if (summary.errors > 0) process.exitCode = 1
} finally {
  child.kill("SIGTERM")
  await new Promise((r) => child.on("exit", r))
  await rm(root, { recursive: true, force: true })
}

/** `connections` keep-alive loops of HEAD requests for `ms`; latency percentiles in ms. */
async function headLoop(base, path, connections, ms) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  const { hostname, port } = new URL(base)
  const latencies = []
  let errors = 0
  const until = Date.now() + ms
  const one = () =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint()
      const req = http.request({ host: hostname, port, path, method: "HEAD", agent }, (res) => {
        res.resume()
        res.on("end", () => {
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
          if (res.statusCode !== 200) errors++
          resolve()
        })
      })
      req.on("error", () => {
        errors++
        resolve()
      })
      req.end()
    })
  await Promise.all(Array.from({ length: connections }, async () => {
    while (Date.now() < until) await one()
  }))
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const pct = (p) => Number((latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0).toFixed(2))
  return {
    requests: latencies.length,
    requestsPerSecond: latencies.length / (ms / 1000),
    latencyMs: { p50: pct(50), p99: pct(99), max: Number((latencies.at(-1) ?? 0).toFixed(2)) },
    errors
  }
}
