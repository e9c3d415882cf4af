// cairn's scoreboard: every contender on the same corpus bytes, in one run, interleaved
// (A B C A B C ...), median of N runs each, warm page cache, each output checked before its
// time counts. Writes results/latest.{md,json} and results/throughput.svg.
// Env: CAIRN_BENCH_QUICK=1 (small corpus, 3 runs), CAIRN_BENCH_SCALE, CAIRN_BENCH_RUNS,
//      CAIRN_BENCH_OUT (results directory), CAIRN_BENCH_ONLY (comma list of groups),
//      CAIRN_BENCH_NOTE (a sentence written at the top of latest.md, e.g. why the scale was cut),
//      CAIRN_BENCH_FS=tmpdir (outputs in os.tmpdir(), not on the run's own journaled ext4).
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdir, rm, stat } from "node:fs/promises"
import { join } from "node:path"
import { benchDir, ensureCorpus, ensureDebian, expectedListing, imageLayers, scaleFromEnv } from "./corpus.mjs"
import { checkTree, checkUnion, sha256File } from "./listing.mjs"
import { has, median, sync, timed } from "./measure.mjs"
import { machineInfo, toolVersions } from "./machine.mjs"
import { freezeCairn } from "./freeze.mjs"
import { profileExtract } from "./profile.mjs"
import { pullUnavailable } from "./pull.mjs"
import { pushImage, startRegistry } from "./registry.mjs"
import { containerdUnavailable, containerdVersion, contentDir, ociArchive, snapshotLayerDirs, startContainerd, stopAllContainerd } from "./containerd.mjs"
import { writeResults } from "./results.mjs"
import { mountBench } from "./mountLatency.mjs"
import { buildBench } from "./build.mjs"
import { scratchFilesystem } from "./scratchfs.mjs"

/** First line of an import failure, without the importer path. @param {unknown} e */
const short = (e) => String(/** @type {Error} */ (e).message).split("\n")[0].replace(/ imported from .*/, "")

const env = process.env
const quick = env.CAIRN_BENCH_QUICK === "1"
const scale = scaleFromEnv(env)
const runs = Number(env.CAIRN_BENCH_RUNS ?? (quick ? 3 : 5))
const outDir = env.CAIRN_BENCH_OUT ?? join(benchDir, "results")
const only = env.CAIRN_BENCH_ONLY ? new Set(env.CAIRN_BENCH_ONLY.split(",")) : undefined
const log = (/** @type {string} */ m) => process.stderr.write(`[bench] ${m}\n`)
// the `mirror` group (opt-in, its own tables in mirror.md/.json): pulls through a cairn-api mirror
if (only?.has("mirror")) {
  const { runMirrorBench } = await import("./mirror.mjs")
  await runMirrorBench({ out: outDir, log })
  if (only.size === 1) process.exit(0)
}

/**
 * @typedef {{ out: string, stdout: string }} RunCtx
 * @typedef {{
 *   id: string, label: string, kind: "cairn" | "peer" | "baseline" | "reference",
 *   skip?: string,
 *   cmd?: (out: string) => [string, string[]],
 *   check?: (ctx: RunCtx) => Promise<string | undefined>,
 *   needsOut?: boolean,
 *   before?: (out: string) => Promise<void>,
 *   usage?: (out: string) => { userS: number, sysS: number, rssKB: number },
 *   after?: (out: string) => Promise<void>
 * }} Contender
 * kind "reference": a measurement the table's analysis uses, not a contender (not drawn among the
 * tools): the WASM kernel alone in an extraction table's own rounds.
 * before: untimed set-up of one run (e.g. a fresh containerd daemon); usage: CPU and peak RSS of
 * helper processes during the timed run (the daemon's), added to the contender's own; after: untimed
 * tear-down once the output is checked (always called).
 * @typedef {{ id: string, title: string, corpus: string, bytes: number, bytesLabel: string, files: number, contenders: Contender[], note?: string, runs?: number, unit?: "startup" | "kernel", server?: () => { userS: number, sysS: number } }} Group
 * server: the CPU so far of a process every contender of the group is served by (the pull's
 * registry); its share of each run is recorded beside the run's own (serverS), not added to it.
 */

const started = new Date()
const corpus = await ensureCorpus({ scale })
const oci = corpus.oci
// the cairn code under test, copied once: a rebuild of packages/*/dist during the run changes
// nothing. First, so that a stale build is refused before a scratch filesystem is mounted.
const frozen = await freezeCairn(join(benchDir, ".corpus", `frozen-${process.pid}`))
// every output, engine root, daemon root and registry of the run, on a fresh journaled ext4 (scratchfs.mjs says why)
const scratchFs = await scratchFilesystem({ log }).catch(async (e) => {
  await rm(frozen.root, { recursive: true, force: true })
  throw e
})
const scratch = scratchFs.dir
const cleanups = [scratchFs.cleanup, () => rm(frozen.root, { recursive: true, force: true })]
const worker = frozen.worker
log(`measuring cairn ${frozen.commit}: ${frozen.packages.map((p) => `@cairn/${p}`).join(", ")} (frozen copies of dist/)`)
cleanups.push(stopAllContainerd)
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
const ctrdSkip = containerdUnavailable()

// containerd: one fresh private daemon per timed run (started before, stopped after, untimed), in
// the run's scratch dir; its CPU time during the run and its peak RSS are added to ctr's own
/** @type {Map<string, Awaited<ReturnType<typeof startContainerd>> & { base: { userS: number, sysS: number } }>} */
const daemons = new Map()
const daemonOf = (/** @type {string} */ out) => {
  const d = daemons.get(out)
  if (!d) throw new Error(`no containerd daemon for ${out}`)
  return d
}
/** @returns {Pick<Contender, "before" | "usage" | "after">} */
const containerdHooks = () => ({
  before: async (out) => {
    const d = await startContainerd(join(out, "containerd"))
    daemons.set(out, Object.assign(d, { base: d.usage() }))
  },
  usage: (out) => {
    const d = daemonOf(out)
    const u = d.usage()
    return { userS: u.userS - d.base.userS, sysS: u.sysS - d.base.sysS, rssKB: u.rssKB }
  },
  after: async (out) => {
    await daemons.get(out)?.stop()
    daemons.delete(out)
  }
})
/** `ctr -a SOCK -n bench ...` of the run's daemon. @param {string} out @param {string[]} args @returns {[string, string[]]} */
const ctrCmd = (out, args) => ["ctr", ["-a", daemonOf(out).sock, "-n", "bench", ...args]]
/** chainIDs of layers with these diffIDs (image-spec config.md "Layer ChainID"). @param {string[]} diffIds */
const chainIdsOf = (diffIds) => {
  const chain = [...diffIds]
  for (let i = 1; i < chain.length; i++) chain[i] = `sha256:${createHash("sha256").update(`${chain[i - 1]} ${chain[i]}`).digest("hex")}`
  return chain
}
/** every layer blob in the OCI-layout-like blobs dir under `dir`, with its digest. @param {string} dir @param {Array<{ digest: string }>} layers */
const blobsIn = async (dir, layers) => {
  for (const l of layers) {
    const p = join(dir, "blobs", "sha256", l.digest.slice(7))
    if (!existsSync(p)) return `layer blob ${l.digest} missing from ${dir}`
    const got = `sha256:${await sha256File(p)}`
    if (got !== l.digest) return `layer blob ${l.digest} has digest ${got}`
  }
  return undefined
}
/**
 * containerd's unpacked image: its content store holds every layer blob with its digest, and the
 * overlayfs snapshotter's snapshot of each layer (found from the mounts of a view of the top chainID)
 * holds exactly that layer's tree. @param {string} out @param {Array<{ digest: string, diffId: string }>} layers @param {any[]} listings
 */
const containerdUnpackOk = async (out, layers, listings) => {
  const d = daemonOf(out)
  const bad = await blobsIn(contentDir(d), layers)
  if (bad) return `containerd content store: ${bad}`
  const chain = chainIdsOf(layers.map((l) => l.diffId))
  let dirs
  try {
    dirs = await snapshotLayerDirs(d, /** @type {string} */ (chain.at(-1)))
  } catch (e) {
    return `containerd has no snapshot of the image (chainID ${chain.at(-1)}): ${short(e)}`
  }
  if (dirs.length !== listings.length) return `containerd's snapshot has ${dirs.length} layers, expected ${listings.length}`
  for (const [i, listing] of listings.entries()) {
    const wrong = await checkTree(dirs[i], listing)
    if (wrong) return `containerd's snapshot of layer ${i} (${dirs[i]}): ${wrong}`
  }
  return undefined
}
const ctrdLabel = containerdVersion()

/**
 * The V8 flags the `cairn` launcher gives node (its second line: `':' //; exec node <flags> "$0" "$@"`):
 * cairn's contenders run under them, in the worker as in the CLI rows, as `cairn` runs when started
 * as a program; node's own baselines (gunzip, receive) run without.
 */
const cairnNodeFlags = (() => {
  const bin = frozen.cli ?? join(benchDir, "..", "apps", "cli", "bin", "cairn.js")
  const m = /^':' \/\/; exec node((?:\s+--\S+)*)\s+"\$0" "\$@"\s*$/.exec(readFileSync(bin, "utf8").split("\n")[1] ?? "")
  return m?.[1]?.trim().split(/\s+/).filter(Boolean) ?? []
})()
const BASELINE_TASKS = new Set(["gunzip", "receive"])
/** @param {{ kind: string }} task */
const nodeWorker = (task) =>
  /** @type {[string, string[]]} */ ([process.execPath, [...(BASELINE_TASKS.has(task.kind) ? [] : cairnNodeFlags), worker, JSON.stringify(task)]])
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
// the optional debootstrapped Debian layer: only when asked for (it needs the Debian mirror once)
/** @type {string | undefined} */
let debianSkip
const extractCorpora = ["libs", "small", "large"]
if (only?.has("debian") || env.CAIRN_BENCH_DEBIAN === "1") {
  try {
    await ensureDebian(corpus)
    extractCorpora.push("debian")
  } catch (e) {
    debianSkip = `the debian corpus could not be built: ${/** @type {Error} */ (e).message}`
    log(debianSkip)
  }
}
// the sha256 kernel alone: MiB per fresh process (the hash table's, and the libs and large tables' reference)
const KERNEL_MIB = quick ? 16 : 256
for (const name of extractCorpora) {
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
    {
      // timed: ctr images import of the one-layer image's oci-archive = the blob copied into the
      // content store with its digest checked, then unpacked (gunzip, diffID checked, files written)
      // into an overlayfs snapshot; against cairn extract reading the blob from its path
      id: "containerd",
      label: `${ctrdLabel} ctr images import + unpack (overlayfs snapshotter)`,
      kind: "peer",
      skip: ctrdSkip ?? skopeoSkip,
      needsOut: true,
      ...containerdHooks(),
      cmd: (out) => ctrCmd(out, ["images", "import", "--snapshotter", "overlayfs", join(scratch, "archives", `${name}.tar`)]),
      check: (ctx) => containerdUnpackOk(ctx.out, [layer], [expected])
    },
    { id: "gzip-dc", label: "gzip -dc > /dev/null (decompression only)", kind: "baseline", cmd: () => ["sh", ["-c", 'gzip -dc "$1" > /dev/null', "sh", layer.path]] }
  ]
  // baselines that only show where time goes (and the floors of the bound arithmetic: the small
  // layer's are part of pull + unpack's)
  contenders.push({ id: "tar-xf", label: "GNU tar -xf (tar already decompressed)", kind: "baseline", skip: tarSkip, needsOut: true, cmd: (out) => ["tar", ["-xf", c.rawTar, "-C", out]], check: treeOk })
  contenders.push({ id: "node-gunzip", label: "node:zlib gunzip only", kind: "baseline", cmd: () => nodeWorker({ kind: "gunzip", path: layer.path }), check: workerOk })
  // the in-pipeline hash rate's reference, timed in the same rounds as the WASM extraction: this
  // host's speed drifts by tens of percent over minutes (the same kernel alone measured 225 and
  // 445 MB per CPU s a few minutes apart), so a rate taken in the hash table's own phase can sit
  // far from the one the extraction ran at
  if (name === "libs" || name === "large") {
    contenders.push({ id: "kernel-wasm", label: `WASM sha256 kernel alone (${KERNEL_MIB} MiB in memory, a fresh process, in this table's rounds)`, kind: "reference", skip: digestSkip, cmd: () => nodeWorker({ kind: "kernel", backend: "wasmBackend", mib: KERNEL_MIB }), check: workerOk })
  }
  const titles = { libs: "Layer of shared libraries", small: "Layer of small files", large: "Layer of one large file", debian: "A debootstrapped Debian (bookworm, minbase) as one layer" }
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

// hash: the sha256 kernel alone, one fresh process per run and backend (the tier V8 leaves a
// WASM kernel on is per process), every HasherBackend @cairn/digest exports (hash-wasm's, node:crypto's,
// and any kernel of our own added later). The in-pipeline rate and the tier check are worked out
// from these runs and the extraction rows in results.mjs.
{
  /** @type {string[]} */
  let backends = []
  const kernelSkip =
    digestSkip ??
    (await import(frozen.entry("digest")).then(
      (m) => {
        backends = Object.keys(m).filter((k) => k.endsWith("Backend") && k !== "defaultBackend" && typeof m[k]?.create === "function")
        // the default backend first: its row is the reference of the table
        const def = Object.keys(m).find((k) => k !== "defaultBackend" && m[k] === m.defaultBackend)
        if (def) backends = [def, ...backends.filter((b) => b !== def)]
        return backends.length ? undefined : "@cairn/digest exports no HasherBackend"
      },
      (e) => `@cairn/digest cannot be loaded: ${short(e)}`
    ))
  groups.push({
    id: "hash",
    title: `sha256 kernel alone: ${KERNEL_MIB} MiB in memory, 1 MiB updates, one fresh process per run`,
    corpus: "hash",
    bytes: KERNEL_MIB * (1 << 20),
    bytesLabel: "bytes hashed",
    files: 0,
    unit: "kernel",
    // a baseline-tier process is rare (3 in 90 in issue 13): many fresh processes, each cheap
    runs: quick ? runs : Math.max(3 * runs, 15),
    contenders: (kernelSkip ? ["wasmBackend"] : backends).map((b) => ({
      id: `kernel-${b.replace(/Backend$/, "")}`,
      label: `${b} kernel alone`,
      kind: /** @type {const} */ ("cairn"),
      skip: kernelSkip,
      cmd: () => nodeWorker({ kind: "kernel", backend: b, mib: KERNEL_MIB }),
      check: workerOk
    }))
  })
}

// start-up: each command as a user runs it (a fresh process), median of at least 7
{
  const cli = frozen.cli
  const cliSkip = cli ? undefined : "the CLI is not built (apps/cli/dist; run npm run build)"
  /** exit 0 and some output on stdout. @param {string} what */
  const printed = (what) => async (/** @type {RunCtx} */ { stdout }) => (stdout.trim() ? undefined : `${what} printed nothing`)
  /** @type {Contender[]} */
  const contenders = [
    { id: "cairn-help", label: "cairn --help", kind: "cairn", skip: cliSkip, cmd: () => [process.execPath, [...cairnNodeFlags, /** @type {string} */ (cli), "--help"]], check: printed("cairn --help") },
    { id: "cairn-images", label: "cairn images (empty root)", kind: "cairn", skip: cliSkip, needsOut: true, cmd: (out) => [process.execPath, [...cairnNodeFlags, /** @type {string} */ (cli), "--root", join(out, "root"), "images"]] },
    { id: "cairn-ps", label: "cairn ps (empty root)", kind: "cairn", skip: cliSkip, needsOut: true, cmd: (out) => [process.execPath, [...cairnNodeFlags, /** @type {string} */ (cli), "--root", join(out, "root"), "ps"]] },
    { id: "node", label: "node -e 0", kind: "baseline", cmd: () => [process.execPath, ["-e", "0"]] },
    { id: "skopeo", label: "skopeo --version", kind: "peer", skip: skopeoSkip, cmd: () => ["skopeo", ["--version"]], check: printed("skopeo --version") },
    { id: "umoci", label: "umoci --version", kind: "peer", skip: umociSkip, cmd: () => ["umoci", ["--version"]], check: printed("umoci --version") },
    { id: "ctr", label: "ctr --version", kind: "peer", skip: tool("ctr", "containerd"), cmd: () => ["ctr", ["--version"]], check: printed("ctr --version") }
  ]
  groups.push({ id: "startup", title: "Start-up: one command, a fresh process", corpus: "startup", bytes: 0, bytesLabel: "", files: 0, unit: "startup", runs: quick ? runs : Math.max(runs, 7), contenders })
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
  /** @type {Group["server"]} */
  let server
  if (!setupSkip) {
    try {
      const reg = await startRegistry(join(scratch, "registry"))
      cleanups.push(reg.stop)
      server = reg.usage
      reference = await pushImage(reg.host, oci, pullTag)
    } catch (e) {
      setupSkip = `local registry set-up failed: ${/** @type {Error} */ (e).message}`
    }
  }
  /** every layer blob in the OCI layout at `dir`, with its digest */
  const blobsOk = (/** @type {string} */ dir) => blobsIn(dir, layers)
  // cairn's unpacked form: one snapshot per layer, snapshots/<chainID hex>/fs of an engine root
  // (image-spec config.md "Layer ChainID"), each holding exactly its layer's tree
  const chain = chainIdsOf(layers.map((/** @type {{ diffId: string }} */ l) => l.diffId))
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
    server,
    contenders: [
      { id: "cairn-pull", label: "cairn pull, download only (engine root's store, each blob hashed once)", kind: "cairn", skip: cairnSkip, needsOut: true, cmd: (out) => task("fetch", out), check: async (ctx) => (await workerOk(ctx)) ?? (await blobsOk(ctx.out)) },
      { id: "skopeo", label: "skopeo copy docker:// oci:", kind: "peer", skip: setupSkip, needsOut: true, cmd: (out) => [skopeoCopy[0], [...skopeoCopy.slice(1), `docker://${reference}`, `oci:${out}:${pullTag}`]], check: (ctx) => blobsOk(ctx.out) },
      {
        // download only: every blob of the image into the daemon's content store, digests checked
        id: "containerd",
        label: `${ctrdLabel} ctr content fetch --plain-http`,
        kind: "peer",
        skip: setupSkip ?? ctrdSkip,
        needsOut: true,
        ...containerdHooks(),
        cmd: (out) => ctrCmd(out, ["content", "fetch", "--plain-http", reference]),
        check: async (ctx) => {
          const bad = await blobsOk(contentDir(daemonOf(ctx.out)))
          return bad && `containerd content store: ${bad}`
        }
      },
      {
        // what receiving the bytes alone costs Node: the floor under cairn's figure (bound analysis)
        id: "receive",
        label: "cairn's blob GET (bulkGet) of every layer blob at once, bytes dropped (receive only)",
        kind: "baseline",
        skip: setupSkip,
        cmd: () => nodeWorker({ kind: "receive", host: reference.split("/")[0], repository: "bench/pull", blobs: layers.map((/** @type {{ digest: string, size: number }} */ l) => ({ digest: l.digest, size: l.size })) }),
        check: workerOk
      },
      {
        // what storing the bytes durably costs the machine, as every contender here does (skopeo
        // and containerd fsync each blob, cairn's store too): each layer blob copied from the page
        // cache into a file of the run's directory and fsynced. Its machine CPU (the run's
        // `machineS`: its own and the kernel's writeback threads') is the writes' part of the floor
        id: "write",
        label: "every layer blob written to a file and fsynced (dd conv=fsync; the writes only)",
        kind: "baseline",
        skip: setupSkip,
        needsOut: true,
        cmd: (out) => ["sh", ["-c", 'out=$1; shift; for b; do dd if="$b" of="$out/$(basename "$b")" bs=1M conv=fsync status=none || exit 1; done', "sh", out, ...layers.map((/** @type {{ path: string }} */ l) => l.path)]],
        check: async (ctx) => {
          for (const l of layers) {
            const st = await stat(join(ctx.out, l.digest.slice(7))).catch(() => undefined)
            if (st?.size !== l.size) return `dd left ${st?.size ?? "no"} bytes of ${l.digest} (${l.size} expected)`
          }
          return undefined
        }
      }
    ]
  })
  groups.push({
    id: "pull-unpack",
    title: `Pull + unpack of the ${image}`,
    corpus: pullTag,
    bytes: c.compressedBytes,
    bytesLabel: "compressed blobs",
    files: c.files,
    server,
    contenders: [
      {
        id: "cairn-pull-unpack",
        label: "cairn Engine.pull (every layer extracted into its snapshot as it downloads)",
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
      },
      {
        // download + unpack of every layer into the overlayfs snapshotter (what ctr pull does by default)
        id: "containerd",
        label: `${ctrdLabel} ctr images pull --plain-http (download + unpack, overlayfs snapshotter)`,
        kind: "peer",
        skip: setupSkip ?? ctrdSkip,
        needsOut: true,
        ...containerdHooks(),
        cmd: (out) => ctrCmd(out, ["images", "pull", "--plain-http", "--snapshotter", "overlayfs", reference]),
        check: (ctx) => containerdUnpackOk(ctx.out, layers, listings)
      }
    ]
  })
}

const selected = (/** @type {Group} */ g) => !only || only.has(g.id) || only.has(g.corpus)

// --- containerd's input: an oci-archive of each selected one-layer image (skopeo, blobs as they are)
if (!ctrdSkip && !skopeoSkip) {
  await mkdir(join(scratch, "archives"), { recursive: true })
  for (const g of groups.filter((x) => x.id.startsWith("extract-") && selected(x) && x.contenders.some((c) => c.id === "containerd"))) {
    log(`making the oci-archive of ${g.corpus} for ctr images import`)
    await ociArchive(oci, g.corpus, join(scratch, "archives", `${g.corpus}.tar`))
  }
}

// --- warm the page cache: every input read once before any timed run --------------------
log("warming the page cache (reading every corpus blob and raw tar once)")
execFileSync("sh", ["-c", `cat "${oci}"/blobs/sha256/* "${corpus.root}"/raw/*.tar ${existsSync(join(scratch, "archives")) && readdirSync(join(scratch, "archives")).length > 0 ? `"${scratch}"/archives/* ` : ""}> /dev/null`])

// --- run: interleaved rounds ---------------------------------------------------------------
/** @type {Record<string, Record<string, { runs: Array<{ wallS: number, rssKB?: number, userS?: number, sysS?: number, serverS?: number, machineS?: number, workS?: number, metrics?: Record<string, number> }>, failed?: string }>>} */
const raw = {}
for (const g of groups) {
  if (!selected(g)) continue
  raw[g.id] = {}
  for (const c of g.contenders) {
    raw[g.id][c.id] = { runs: [] }
    if (c.skip) log(`${g.id}: ${c.label}: skipped: ${c.skip}`)
  }
  const rounds = g.runs ?? runs
  for (let round = 0; round < rounds; round++) {
    for (const c of g.contenders) {
      const rec = raw[g.id][c.id]
      if (c.skip || rec.failed || !c.cmd) continue
      const out = join(scratch, `${g.id}-${c.id}-${round}`)
      if (c.needsOut) await mkdir(out, { recursive: true })
      /** @type {string | undefined} */
      let failure
      /** @type {Awaited<ReturnType<typeof timed>> | undefined} */
      let r
      /** @type {number | undefined} */
      let serverS
      try {
        await c.before?.(out)
        const [cmd, args] = c.cmd(out)
        const s0 = g.server?.()
        r = await timed(cmd, args, join(scratch, "time.txt"))
        const s1 = g.server?.()
        if (s0 && s1) serverS = s1.userS + s1.sysS - (s0.userS + s0.sysS)
        // a helper process's share of the work (containerd's daemon): its CPU, and its peak RSS added to the client's
        const extra = c.usage?.(out)
        if (extra) r = { ...r, userS: (r.userS ?? 0) + extra.userS, sysS: (r.sysS ?? 0) + extra.sysS, rssKB: (r.rssKB ?? 0) + extra.rssKB }
        failure = r.code === 0 ? undefined : `exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-300)}`
        if (!failure && c.check) failure = await c.check({ out, stdout: r.stdout })
      } catch (e) {
        failure = `set-up or check failed: ${short(e)}`
      }
      await c.after?.(out).catch((e) => log(`${g.id}: ${c.label}: tear-down: ${short(e)}`))
      await rm(out, { recursive: true, force: true })
      await sync()
      await scratchFs.trim()
      if (failure || !r) {
        rec.failed = failure
        log(`${g.id}: ${c.label}: FAILED (its time does not count): ${failure}`)
        continue
      }
      let workS
      /** @type {Record<string, number> | undefined} */
      let metrics
      if (c.kind === "cairn" || c.kind === "reference") {
        try {
          const w = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "")
          if (typeof w.workMs === "number") workS = w.workMs / 1000
          if (w.metrics && typeof w.metrics === "object") metrics = w.metrics
        } catch {}
      }
      rec.runs.push({ wallS: r.wallS, rssKB: r.rssKB, userS: r.userS, sysS: r.sysS, serverS, machineS: r.machineS, workS, metrics })
      const rate = g.bytes ? `, ${(g.bytes / r.wallS / 1e6).toFixed(0)} MB/s` : ""
      log(`${g.id} round ${round + 1}/${rounds}: ${c.label}: ${r.wallS.toFixed(3)} s${rate}, peak RSS ${r.rssKB ? (r.rssKB / 1024).toFixed(0) : "?"} MB${metrics ? `, ${JSON.stringify(metrics, (_k, v) => (typeof v === "number" ? Math.round(v) : v))}` : ""}`)
    }
  }
}

// --- mount latency (the mount package's own bench), profile ----------------------------
const mount = !only || only.has("mount") ? await mountBench({ quick, scratch }) : { skip: "not selected" }
// cairn build vs buildah bud (src/build.mjs): 10,000 files and three RUN steps, cold and cached
const build = !only || only.has("build") ? await buildBench({ quick, runs, log }) : { skip: "not selected" }
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
      await profileExtract({ worker, scratch, corpus: name, layers, bytes: corpus.corpora[name].tarBytes, nodeFlags: cairnNodeFlags }).catch((e) => ({ corpus: name, skip: `profiling failed: ${e.message}` }))
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
    ...(g.unit ? { unit: g.unit } : {}),
    rows: g.contenders.map((c) => {
      const rec = raw[g.id][c.id]
      const times = rec.runs.map((r) => r.wallS)
      const med = times.length ? median(times) : undefined
      const rss = rec.runs.map((r) => r.rssKB).filter((x) => x !== undefined)
      const work = rec.runs.map((r) => r.workS).filter((x) => x !== undefined)
      /** @type {Record<string, number[]>} */
      const metricRuns = {}
      for (const r of rec.runs) for (const [k, v] of Object.entries(r.metrics ?? {})) (metricRuns[k] ??= []).push(v)
      return {
        id: c.id,
        label: c.label,
        kind: c.kind,
        ...(c.skip ? { skipped: c.skip } : {}),
        ...(rec.failed ? { failed: rec.failed } : {}),
        runs: times,
        medianS: med,
        mbPerS: med && g.bytes ? g.bytes / med / 1e6 : undefined,
        filesPerS: med && g.files ? g.files / med : undefined,
        ...(work.length ? { workMedianS: median(work), workMbPerS: g.bytes / median(work) / 1e6 } : {}),
        ...(Object.keys(metricRuns).length ? { metrics: Object.fromEntries(Object.entries(metricRuns).map(([k, v]) => [k, median(v)])), metricRuns } : {}),
        ...(rec.runs.some((r) => r.userS !== undefined) ? { cpuRuns: rec.runs.map((r) => (r.userS ?? 0) + (r.sysS ?? 0)) } : {}),
        peakRssMB: rss.length ? Math.max(...rss) / 1024 : undefined,
        userS: rec.runs.length ? median(rec.runs.map((r) => r.userS ?? 0)) : undefined,
        sysS: rec.runs.length ? median(rec.runs.map((r) => r.sysS ?? 0)) : undefined,
        ...(rec.runs.some((r) => r.serverS !== undefined) ? { serverS: median(rec.runs.map((r) => r.serverS ?? 0)) } : {}),
        ...(rec.runs.some((r) => r.machineS !== undefined) ? { machineS: median(rec.runs.map((r) => r.machineS ?? 0)) } : {})
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
  ...(debianSkip ? { debianSkip } : {}),
  machine: { ...machineInfo(), scratchFs: scratchFs.fs },
  versions: { ...toolVersions(benchDir), containerd: ctrdLabel, cairnCommit: frozen.commit },
  cairnNodeFlags,
  corpus: { root: corpus.root, corpora: corpus.corpora },
  tables,
  mount,
  build,
  profiles
}
await writeResults(outDir, result)
log(`results written to ${outDir}/latest.md, latest.json, throughput.svg`)
await cleanup()
