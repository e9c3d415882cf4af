// `cairn build`: an image from a Containerfile (Engine.build), with podman's output.
import { command } from "../command.js"
import { UsageError } from "../errors.js"

const list = (v: unknown): Array<string> => (Array.isArray(v) ? v.map(String) : typeof v === "string" ? [v] : [])

export const build = command({
  name: "build",
  summary: "Build an image from a Containerfile: one layer per COPY/ADD/RUN, RUN in a real container (crun)",
  usage: "[CONTEXT]",
  description:
    "Reads CONTEXT/Containerfile (else CONTEXT/Dockerfile, or -f FILE). Steps whose parent, instruction and sources are unchanged come from the build cache. RUN runs in crun without network unless --network host. Needs root.",
  examples: [
    "cairn build -t app:1 .",
    "cairn build -f build/Containerfile --build-arg VERSION=2 --target runtime -t app:2 .",
    "id=$(cairn build -q --timestamp 0 .)   # reproducible digest; -q prints the id only"
  ],
  options: {
    file: { type: "string", short: "f", value: "FILE", description: "the Containerfile (default CONTEXT/Containerfile, else Dockerfile)" },
    tag: { type: "string", short: "t", multiple: true, value: "NAME[:TAG]", description: "name the image (repeatable)" },
    "build-arg": { type: "string", multiple: true, value: "K=V", description: "a value for an ARG (repeatable)" },
    target: { type: "string", value: "STAGE", description: "build this stage (and the stages it needs) only" },
    "no-cache": { type: "boolean", description: "run every step again, ignoring the build cache" },
    timestamp: { type: "string", value: "SECONDS", description: "created times and file mtimes (default SOURCE_DATE_EPOCH): reproducible digests" },
    network: { type: "string", value: "none|host", description: "RUN's network (default none)" }
  },
  args: { min: 0, max: 1 },
  async run(ctx, [contextDir], opts) {
    const buildArgs: Record<string, string> = {}
    for (const a of list(opts["build-arg"])) {
      const eq = a.indexOf("=")
      if (eq <= 0) throw new UsageError(`--build-arg ${a}: expected NAME=VALUE`)
      buildArgs[a.slice(0, eq)] = a.slice(eq + 1)
    }
    const ts = opts["timestamp"]
    if (typeof ts === "string" && !/^\d+$/.test(ts)) throw new UsageError(`--timestamp ${ts}: expected seconds since the epoch`)
    const network = opts["network"]
    if (network !== undefined && network !== "none" && network !== "host") throw new UsageError(`--network ${String(network)}: none or host`)
    const engine = await ctx.engine()
    const talk = !ctx.out.quiet && !ctx.out.json
    const r = await engine.build(contextDir ?? ".", {
      ...(typeof opts["file"] === "string" ? { file: opts["file"] } : {}),
      tags: list(opts["tag"]),
      buildArgs,
      ...(typeof opts["target"] === "string" ? { target: opts["target"] } : {}),
      noCache: opts["no-cache"] === true,
      ...(typeof ts === "string" ? { timestamp: Number(ts) } : {}),
      ...(network === "host" ? { network: "host" as const } : {}),
      onLine: (l) => ctx.out.info(l),
      // RUN's output as it comes; with --json it goes to stderr so stdout stays one JSON document
      onOutput: (c) => {
        if (talk) ctx.out.out.write(c)
        else if (ctx.out.json) ctx.out.err.write(c)
      }
    })
    const id = r.image.digest.slice("sha256:".length)
    ctx.out.result(r, () => `--> ${id.slice(0, 12)}${r.layersCreated === 0 ? " (every step from the cache)" : ""}\n${id}`, () => [id])
  }
})
