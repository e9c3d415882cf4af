import { command } from "../command.js"
import { UsageError } from "../errors.js"
import { humanSize, table } from "../output.js"

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-")
const ms = (s: number) => `${(s * 1000).toFixed(0)}ms`

export const bench = command({
  name: "bench",
  summary: "Benchmark layer extraction of an image: MB/s, files/s, time split, peak RSS",
  usage: "extract IMAGE",
  description:
    "Extracts the image's layers --runs times into scratch roots (removed after each run), verifying both digests,\n" +
    "and reports medians per layer and in total. A table on a terminal; JSON when --json is given or stdout is not a TTY.",
  examples: ["cairn bench extract busybox", "cairn bench extract --runs 5 --hasher native myapp:v1", "cairn bench extract --mode overlay --concurrency 2 myapp:v1 > result.json"],
  options: {
    runs: { type: "string", value: "N", description: "runs per layer (default 3)" },
    hasher: { type: "string", value: "wasm|native", description: "sha256 backend: the WASM kernel (default) or node:crypto (also: node)" },
    mode: { type: "string", value: "flat|overlay", description: "one flat rootfs (default) or one overlay-form dir per layer" },
    concurrency: { type: "string", value: "N", description: "layers extracted at once in overlay mode (default 1)" },
    "hash-thread": { type: "string", value: "main|worker", description: "where sha256 runs (default: worker for layers >= 16 MiB, as imports do)" },
    scratch: { type: "string", value: "DIR", description: "where scratch roots go (default the temp dir)" }
  },
  args: { min: 2, max: 2 },
  async run(ctx, [sub, image], opts) {
    if (sub !== "extract") throw new UsageError(`unknown benchmark "${sub}": the one there is is "extract"`, "bench")
    const runs = opts["runs"] === undefined ? 3 : Number(opts["runs"])
    if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a whole number >= 1, got "${opts["runs"]}"`, "bench")
    const hasher = opts["hasher"] === "native" ? "node" : ((opts["hasher"] ?? "wasm") as string)
    if (hasher !== "wasm" && hasher !== "node") throw new UsageError(`--hasher must be wasm or native, got "${opts["hasher"]}"`, "bench")
    const mode = (opts["mode"] ?? "flat") as string
    if (mode !== "flat" && mode !== "overlay") throw new UsageError(`--mode must be flat or overlay, got "${mode}"`, "bench")
    const concurrency = opts["concurrency"] === undefined ? 1 : Number(opts["concurrency"])
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a whole number >= 1`, "bench")
    const thread = opts["hash-thread"]
    if (thread !== undefined && thread !== "main" && thread !== "worker") throw new UsageError(`--hash-thread must be main or worker, got "${thread}"`, "bench")
    const engine = await ctx.engine()
    const { benchExtract } = await import("@cairn/engine")
    const report = await benchExtract(engine, image!, {
      ...(thread === undefined ? {} : { hashOffThread: thread === "worker" }),
      runs,
      hasher,
      mode,
      concurrency,
      ...(typeof opts["scratch"] === "string" ? { scratch: opts["scratch"] } : {}),
      onRun: (n, s) => ctx.out.tty && !ctx.out.json && ctx.out.err.write(`run ${n}/${runs}: ${s.toFixed(3)}s\n`)
    })
    if (ctx.out.json || !ctx.out.tty) {
      ctx.out.out.write(`${JSON.stringify(report, null, 2)}\n`)
      return
    }
    const rows = report.layers.map((l) => [
      l.digest.slice(7, 19),
      l.compression,
      humanSize(l.compressedBytes),
      humanSize(l.tarBytes),
      String(l.entries),
      f1(l.compressedMBps),
      f1(l.uncompressedMBps),
      l.filesPerSecond.toFixed(0),
      ms(l.split.decompression),
      l.hashedOffThread ? "worker" : ms(l.split.hashing),
      ms(l.split.filesystemAndTar)
    ])
    const t = report.total
    rows.push(["total", "", humanSize(t.compressedBytes), humanSize(t.tarBytes), String(t.entries), f1(t.compressedMBps), f1(t.uncompressedMBps), t.filesPerSecond.toFixed(0), "", "", ""])
    ctx.out.result(report, () =>
      [
        `${report.image} (${report.digest.slice(0, 19)}): ${report.runs} runs, ${report.mode}, ${report.hasher} sha256, medians`,
        table(["LAYER", "COMPR", "SIZE", "TAR", "FILES", "MB/s (compr)", "MB/s (tar)", "FILES/s", "DECOMPRESS*", "HASH", "FS+TAR"], rows),
        `peak RSS ${humanSize(report.peakRssBytes)}; node ${report.node}`,
        "* decompression measured apart; gzip runs on the libuv thread pool, overlapping hashing and filesystem work"
      ].join("\n")
    )
  }
})
