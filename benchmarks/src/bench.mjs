// cairn's scoreboard: every contender on the same corpus bytes, in one run, interleaved
// (A B C A B C ...), median of N runs each, warm page cache, each output checked before its
// time counts. Writes results/latest.{md,json} and results/throughput.svg.
// Env: CAIRN_BENCH_QUICK=1 (small corpus, 3 runs), CAIRN_BENCH_SCALE, CAIRN_BENCH_RUNS,
//      CAIRN_BENCH_OUT (results directory), CAIRN_BENCH_ONLY (comma list of groups),
//      CAIRN_BENCH_NOTE (a sentence written at the top of latest.md, e.g. why the scale was cut).
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { benchDir, ensureCorpus, expectedListing, imageLayers, scaleFromEnv } from "./corpus.mjs"
import { checkTree, checkUnion, sha256File } from "./listing.mjs"
import { median, sync, timed } from "./measure.mjs"
import { machineInfo, toolVersions } from "./machine.mjs"
import { freezeCairn } from "./freeze.mjs"
import { profileExtract } from "./profile.mjs"
import { pullUnavailable } from "./pull.mjs"
import { pushImage, startRegistry } from "./registry.mjs"
import { writeResults } from "./results.mjs"
import { mountBench } from "./mountLatency.mjs"

/** First line of an import failure, without the importer path. @param {unknown} e */
const short = (e) => String(/** @type {Error} */ (e).message).split("\n")[0].replace(/ imported from .*/, "")

const env = process.env
const quick = env.CAIRN_BENCH_QUICK === "1"
const scale = scaleFromEnv(env)
const runs = Number(env.CAIRN_BENCH_RUNS ?? (quick ? 3 : 5))
const outDir = env.CAIRN_BENCH_OUT ?? join(benchDir, "results")
const only = env.CAIRN_BENCH_ONLY ? new Set(env.CAIRN_BENCH_ONLY.split(",")) : undefined
const log = (/** @type {string} */ m) => process.stderr.write(`[bench] ${m}\n`)
const has = (/** @type {string} */ bin) => {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/**
 * @typedef {{ out: string, stdout: string }} RunCtx
 * @typedef {{
 *   id: string, label: string, kind: "cairn" | "peer" | "baseline",
 *   skip?: string,
 *   cmd?: (out: string) => [string, string[]],
 *   check?: (ctx: RunCtx) => Promise<string | undefined>,
 *   needsOut?: boolean
 * }} Contender
 * @typedef {{ id: string, title: string, corpus: string, bytes: number, bytesLabel: string, files: number, contenders: Contender[], note?: string }} Group
 */

const started = new Date()
const corpus = await ensureCorpus({ scale })
const oci = corpus.oci
const scratch = await mkdtemp(join(tmpdir(), "cairn-bench-"))
const cleanups = [() => rm(scratch, { recursive: true, force: true })]
// the cairn code under test, copied once: a rebuild of packages/*/dist during the run changes nothing
const frozen = await freezeCairn(join(benchDir, ".corpus", `frozen-${process.pid}`))
cleanups.push(() => rm(frozen.root, { recursive: true, force: true }))
const worker = frozen.worker
log(`measuring cairn ${frozen.commit}: ${frozen.packages.map((p) => `@cairn/${p}`).join(", ")} (frozen copies of dist/)`)
const cleanup = async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
}
// a harness that stops us (Ctrl-C, or a timeout's SIGTERM) gets no frozen copy, scratch dir or registry left behind
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => cleanup().then(() => process.exit(130)))

// --- what is available ------------------------------------------------------------------
const overlaySkip = await import(frozen.entry("overlay")).then(
  (m) => (typeof m.applyLayer === "function" ? undefined : "@cairn/overlay does not export applyLayer() yet"),
  (e) => `@cairn/overlay cannot be loaded (not built? run npm run build): ${short(e)}`
)
const digestSkip = await import(frozen.entry("digest")).then(
  (m) => (typeof m.createHasher === "function" ? undefined : "@cairn/digest does not export createHasher()"),
  (e) => `@cairn/digest cannot be loaded (not built? run npm run build): ${short(e)}`
)
const tool = (/** @type {string} */ bin, /** @type {string} */ pkg) => (has(bin) ? undefined : `${bin} is not installed (Debian package ${pkg})`)
const tarSkip = tool("tar", "tar")
const umociSkip = tool("umoci", "umoci")
const skopeoSkip = tool("skopeo", "skopeo")

/** @param {object} task */
const nodeWorker = (task) => /** @type {[string, string[]]} */ ([process.execPath, [worker, JSON.stringify(task)]])
/** The worker itself verifies digests and reports ok:false on any error. */
const workerOk = async (/** @type {RunCtx} */ { stdout }) => {
  const line = stdout.trim().split("\n").at(-1) ?? ""
  try {
    const r = JSON.parse(line)
    return r.ok ? undefined : r.error
  } catch {
    return `worker printed no result: ${line.slice(0, 200)}`
  }
}

// --- groups -------------------------------------------------------------------------------
/** @type {Group[]} */
const groups = []
for (const name of ["libs", "small", "large"]) {
  const c = corpus.corpora[name]
  const [layer] = await imageLayers(oci, name)
  const expected = await expectedListing(corpus, name)
  const treeOk = async (/** @type {RunCtx} */ ctx) => checkTree(ctx.out, expected)
  const cairn = (/** @type {string} */ hasher) => ({
    id: `cairn-${hasher}`,
    label: `cairn extract (${hasher === "wasm" ? "WASM" : "node:crypto"} sha256)`,
    kind: /** @type {const} */ ("cairn"),
    skip: overlaySkip ?? digestSkip,
    needsOut: true,
    cmd: (/** @type {string} */ out) => nodeWorker({ kind: "extract", hasher, target: out, layers: [layer] }),
    check: async (/** @type {RunCtx} */ ctx) => (await workerOk(ctx)) ?? (await treeOk(ctx))
  })
  /** @type {Contender[]} */
  const contenders = [
    cairn("wasm"),
    cairn("node"),
    { id: "tar-xzf", label: "GNU tar -xzf", kind: "peer", skip: tarSkip, needsOut: true, cmd: (out) => ["tar", ["-xzf", layer.path, "-C", out]], check: treeOk },
    { id: "umoci", label: "umoci raw unpack", kind: "peer", skip: umociSkip, needsOut: true, cmd: (out) => ["umoci", ["raw", "unpack", "--image", `${oci}:${name}`, out]], check: treeOk },
    { id: "gzip-dc", label: "gzip -dc > /dev/null (decompression only)", kind: "baseline", cmd: () => ["sh", ["-c", 'gzip -dc "$1" > /dev/null', "sh", layer.path]] }
  ]
  // baselines that only show where time goes; on small files decompression is a sliver
  // (gzip -dc shows it), so the costly tar -xf and node:zlib rows are left to the big layers
  if (name !== "small") {
    contenders.push({ id: "tar-xf", label: "GNU tar -xf (tar already decompressed)", kind: "baseline", skip: tarSkip, needsOut: true, cmd: (out) => ["tar", ["-xf", c.rawTar, "-C", out]], check: treeOk })
    contenders.push({ id: "node-gunzip", label: "node:zlib gunzip only", kind: "baseline", cmd: () => nodeWorker({ kind: "gunzip", path: layer.path }), check: workerOk })
  }
  const titles = { libs: "Layer of shared libraries", small: "Layer of small files", large: "Layer of one large file" }
  groups.push({ id: `extract-${name}`, title: titles[/** @type {"libs"} */ (name)], corpus: name, bytes: c.tarBytes, bytesLabel: "uncompressed tar", files: c.files, contenders })
}
{
  const c = corpus.corpora.multi
  const layers = await imageLayers(oci, "multi")
  const expected = await expectedListing(corpus, "multi")
  const treeOk = async (/** @type {RunCtx} */ ctx) => checkTree(ctx.out, expected)
  groups.push({
    id: "extract-multi",
    title: `Multi-layer image (${layers.length} layers, whiteouts, opaque dir), flat`,
    corpus: "multi",
    bytes: c.tarBytes,
    bytesLabel: "uncompressed tar, all layers",
    files: c.files,
    contenders: [
      { id: "cairn-wasm", label: "cairn flat apply of all layers (WASM sha256)", kind: "cairn", skip: overlaySkip ?? digestSkip, needsOut: true, cmd: (out) => nodeWorker({ kind: "extract", hasher: "wasm", target: out, layers }), check: async (ctx) => (await workerOk(ctx)) ?? (await treeOk(ctx)) },
      { id: "umoci", label: "umoci raw unpack", kind: "peer", skip: umociSkip, needsOut: true, cmd: (out) => ["umoci", ["raw", "unpack", "--image", `${oci}:multi`, out]], check: treeOk }
    ]
  })
}
{
  const [layer] = await imageLayers(oci, "large")
  const hex = layer.digest.slice(7)
  groups.push({
    id: "sha256-large",
    title: "sha256 of the large layer blob",
    corpus: "large",
    bytes: layer.size,
    bytesLabel: "compressed blob",
    files: 0,
    contenders: [
      { id: "cairn-wasm", label: "cairn createHasher (WASM)", kind: "cairn", skip: digestSkip, cmd: () => nodeWorker({ kind: "sha256", hasher: "wasm", path: layer.path, expected: layer.digest }), check: workerOk },
      { id: "cairn-node", label: "cairn createHasher (node:crypto)", kind: "cairn", skip: digestSkip, cmd: () => nodeWorker({ kind: "sha256", hasher: "node", path: layer.path, expected: layer.digest }), check: workerOk },
      { id: "sha256sum", label: "sha256sum", kind: "peer", cmd: () => ["sha256sum", [layer.path]], check: async ({ stdout }) => (stdout.startsWith(hex) ? undefined : `sha256sum printed ${stdout.slice(0, 64)}, expected ${hex}`) }
    ]
  })
}

// pull: the registry is started only when a pull group is wanted. The image is `pull`: the
// libs, small and large layers as one 3-layer image (>= 500 MB of gzip at scale 1, issue 7).
const pullTag = "pull"
if (!only || only.has("pull") || only.has("pull-unpack")) {
  const c = corpus.corpora[pullTag]
  const layers = await imageLayers(oci, pullTag)
  // the layers are the single-layer corpora, so each one's expected tree is that corpus's listing
  const listings = await Promise.all(c.parts.map((/** @type {string} */ p) => expectedListing(corpus, p)))
  let reference = ""
  let setupSkip = skopeoSkip
  if (!setupSkip) {
    try {
      const reg = await startRegistry(join(scratch, "registry"))
      cleanups.push(reg.stop)
      reference = await pushImage(reg.host, oci, pullTag)
    } catch (e) {
      setupSkip = `local registry set-up failed: ${/** @type {Error} */ (e).message}`
    }
  }
  /** every layer blob in the OCI layout at `dir`, with its digest */
  const blobsOk = async (/** @type {string} */ dir) => {
    for (const l of layers) {
      const p = join(dir, "blobs", "sha256", l.digest.slice(7))
      if (!existsSync(p)) return `layer blob ${l.digest} missing from ${dir}`
      const got = `sha256:${await sha256File(p)}`
      if (got !== l.digest) return `layer blob ${l.digest} has digest ${got}`
    }
    return undefined
  }
  // cairn's unpacked form: one snapshot per layer, snapshots/<chainID hex>/fs of an engine root
  // (image-spec config.md "Layer ChainID"), each holding exactly its layer's tree
  const chain = layers.map((/** @type {{ diffId: string }} */ l) => l.diffId)
  for (let i = 1; i < chain.length; i++) chain[i] = `sha256:${createHash("sha256").update(`${chain[i - 1]} ${chain[i]}`).digest("hex")}`
  const snapshotsOk = async (/** @type {string} */ root) => {
    for (const [i, listing] of listings.entries()) {
      const fs = join(root, "snapshots", chain[i].slice(7), "fs")
      if (!existsSync(fs)) return `no snapshot of layer ${i} (chainID ${chain[i]}) in ${root}/snapshots`
      const bad = await checkTree(fs, listing)
      if (bad) return `snapshot of layer ${i} (${c.parts[i]}): ${bad}`
    }
    return undefined
  }
  const cairnSkip = setupSkip ?? (await pullUnavailable(frozen.entry))
  const task = (/** @type {string} */ kind, /** @type {string} */ out) => nodeWorker({ kind, reference, root: out, name: "bench/pull:latest" })
  const skopeoCopy = ["skopeo", "copy", "--quiet", "--src-tls-verify=false"]
  const image = `${c.layers}-layer image (${c.parts.join(" + ")}: ${(c.compressedBytes / 1e6).toFixed(0)} MB gzip, ${(c.tarBytes / 1e6).toFixed(0)} MB of tar)`
  groups.push({
    id: "pull",
    title: `Pull of a ${image} from a local docker-registry (127.0.0.1, plain HTTP)`,
    corpus: pullTag,
    bytes: c.compressedBytes,
    bytesLabel: "compressed blobs",
    files: 0,
    contenders: [
      { id: "cairn-pull", label: "cairn pull, download only (engine root's store, each blob hashed once)", kind: "cairn", skip: cairnSkip, needsOut: true, cmd: (out) => task("fetch", out), check: async (ctx) => (await workerOk(ctx)) ?? (await blobsOk(ctx.out)) },
      { id: "skopeo", label: "skopeo copy docker:// oci:", kind: "peer", skip: setupSkip, needsOut: true, cmd: (out) => [skopeoCopy[0], [...skopeoCopy.slice(1), `docker://${reference}`, `oci:${out}:${pullTag}`]], check: (ctx) => blobsOk(ctx.out) }
    ]
  })
  groups.push({
    id: "pull-unpack",
    title: `Pull + unpack of the ${image}`,
    corpus: pullTag,
    bytes: c.compressedBytes,
    bytesLabel: "compressed blobs",
    files: c.files,
    contenders: [
      {
        id: "cairn-pull-unpack",
        label: "cairn Engine.pull (each layer into its snapshot as its blob completes)",
        kind: "cairn",
        skip: cairnSkip,
        needsOut: true,
        cmd: (out) => task("pull", out),
        check: async (ctx) => (await workerOk(ctx)) ?? (await blobsOk(ctx.out)) ?? (await snapshotsOk(ctx.out))
      },
      {
        id: "skopeo-umoci",
        label: "skopeo copy docker:// oci:, then umoci raw unpack",
        kind: "peer",
        skip: setupSkip ?? umociSkip,
        needsOut: true,
        // one contender: the two commands in sequence, as a user would run them
        cmd: (out) => ["sh", ["-c", `${skopeoCopy.join(" ")} "docker://$1" "oci:$2/image:${pullTag}" && umoci raw unpack --image "$2/image:${pullTag}" "$2/rootfs"`, "sh", reference, out]],
        check: async (ctx) => (await blobsOk(join(ctx.out, "image"))) ?? (await checkUnion(join(ctx.out, "rootfs"), listings))
      }
    ]
  })
}

// --- warm the page cache: every input read once before any timed run --------------------
log("warming the page cache (reading every corpus blob and raw tar once)")
execFileSync("sh", ["-c", `cat "${oci}"/blobs/sha256/* "${corpus.root}"/raw/*.tar > /dev/null`])

// --- run: interleaved rounds ---------------------------------------------------------------
/** @type {Record<string, Record<string, { runs: Array<{ wallS: number, rssKB?: number, userS?: number, sysS?: number, workS?: number }>, failed?: string }>>} */
const raw = {}
for (const g of groups) {
  if (only && !only.has(g.id) && !only.has(g.corpus)) continue
  raw[g.id] = {}
  for (const c of g.contenders) {
    raw[g.id][c.id] = { runs: [] }
    if (c.skip) log(`${g.id}: ${c.label}: skipped: ${c.skip}`)
  }
  for (let round = 0; round < runs; round++) {
    for (const c of g.contenders) {
      const rec = raw[g.id][c.id]
      if (c.skip || rec.failed || !c.cmd) continue
      const out = join(scratch, `${g.id}-${c.id}-${round}`)
      if (c.needsOut) await mkdir(out, { recursive: true })
      const [cmd, args] = c.cmd(out)
      const r = await timed(cmd, args, join(scratch, "time.txt"))
      let failure = r.code === 0 ? undefined : `exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-300)}`
      if (!failure && c.check) failure = await c.check({ out, stdout: r.stdout })
      await rm(out, { recursive: true, force: true })
      await sync()
      if (failure) {
        rec.failed = failure
        log(`${g.id}: ${c.label}: FAILED (its time does not count): ${failure}`)
        continue
      }
      let workS
      if (c.kind === "cairn") {
        try {
          const w = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "")
          if (typeof w.workMs === "number") workS = w.workMs / 1000
        } catch {}
      }
      rec.runs.push({ wallS: r.wallS, rssKB: r.rssKB, userS: r.userS, sysS: r.sysS, workS })
      log(`${g.id} round ${round + 1}/${runs}: ${c.label}: ${r.wallS.toFixed(3)} s, ${((g.bytes / r.wallS) / 1e6).toFixed(0)} MB/s, peak RSS ${r.rssKB ? (r.rssKB / 1024).toFixed(0) : "?"} MB`)
    }
  }
}

// --- mount latency (the mount package's own bench), profile ----------------------------
const mount = !only || only.has("mount") ? await mountBench({ quick, scratch }) : { skip: "not selected" }
/** @type {Array<Record<string, unknown>>} */
const profiles = []
if (!only || only.has("profile")) {
  for (const name of ["large", "small"]) {
    if (overlaySkip || digestSkip) {
      profiles.push({ corpus: name, skip: overlaySkip ?? digestSkip })
      continue
    }
    log(`profiling one cairn extract of the ${name} layer (node --cpu-prof)`)
    const layers = await imageLayers(oci, name)
    profiles.push(
      await profileExtract({ worker, scratch, corpus: name, layers, bytes: corpus.corpora[name].tarBytes }).catch((e) => ({ corpus: name, skip: `profiling failed: ${e.message}` }))
    )
  }
}

// --- results ---------------------------------------------------------------------------------
const tables = groups
  .filter((g) => raw[g.id])
  .map((g) => ({
    id: g.id,
    title: g.title,
    corpus: g.corpus,
    bytes: g.bytes,
    bytesLabel: g.bytesLabel,
    files: g.files,
    rows: g.contenders.map((c) => {
      const rec = raw[g.id][c.id]
      const times = rec.runs.map((r) => r.wallS)
      const med = times.length ? median(times) : undefined
      const rss = rec.runs.map((r) => r.rssKB).filter((x) => x !== undefined)
      const work = rec.runs.map((r) => r.workS).filter((x) => x !== undefined)
      return {
        id: c.id,
        label: c.label,
        kind: c.kind,
        ...(c.skip ? { skipped: c.skip } : {}),
        ...(rec.failed ? { failed: rec.failed } : {}),
        runs: times,
        medianS: med,
        mbPerS: med ? g.bytes / med / 1e6 : undefined,
        filesPerS: med && g.files ? g.files / med : undefined,
        ...(work.length ? { workMedianS: median(work), workMbPerS: g.bytes / median(work) / 1e6 } : {}),
        peakRssMB: rss.length ? Math.max(...rss) / 1024 : undefined,
        userS: rec.runs.length ? median(rec.runs.map((r) => r.userS ?? 0)) : undefined,
        sysS: rec.runs.length ? median(rec.runs.map((r) => r.sysS ?? 0)) : undefined
      }
    })
  }))

const result = {
  started: started.toISOString(),
  finished: new Date().toISOString(),
  quick,
  scale,
  runs,
  ...(env.CAIRN_BENCH_NOTE ? { note: env.CAIRN_BENCH_NOTE } : {}),
  machine: machineInfo(),
  versions: { ...toolVersions(benchDir), cairnCommit: frozen.commit },
  corpus: { root: corpus.root, corpora: corpus.corpora },
  tables,
  mount,
  profiles
}
await writeResults(outDir, result)
log(`results written to ${outDir}/latest.md, latest.json, throughput.svg`)
await cleanup()
