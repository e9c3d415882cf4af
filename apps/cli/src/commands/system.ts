import { command } from "../command.js"
import { humanSize, table } from "../output.js"

export const df = command({
  name: "df",
  summary: "Show disk usage: images (shared vs unique), snapshots, containers, and what prune would reclaim",
  usage: "",
  examples: ["cairn df", "cairn df -v", "cairn df --json"],
  options: { verbose: { type: "boolean", short: "v", description: "per image, snapshot and container" } },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const engine = await ctx.engine()
    const u = await engine.df()
    ctx.out.result(u, () => {
      const parts = [
        table(
          ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
          [
            ["Images", String(u.images.length), String(u.images.filter((i) => i.containers > 0).length), humanSize(u.totals.images), humanSize(u.reclaimable.blobs)],
            ["Snapshots", String(u.snapshots.length), String(u.snapshots.filter((s) => s.containers > 0).length), humanSize(u.totals.snapshots), humanSize(u.reclaimable.snapshots)],
            ["Containers", String(u.containers.length), String(u.containers.filter((c) => c.mounted).length), humanSize(u.totals.containers), "0B"],
            ["Partial ingests", String(u.ingests.count), String(u.ingests.active), humanSize(u.ingests.bytes), humanSize(u.reclaimable.ingests)]
          ]
        )
      ]
      if (opts["verbose"]) {
        parts.push(
          "",
          "Images:",
          table(
            ["NAME", "IMAGE ID", "SIZE", "SHARED", "UNIQUE", "CONTAINERS"],
            u.images.map((i) => [i.name ?? "<none>", i.digest.slice(7, 19), humanSize(i.size), humanSize(i.shared), humanSize(i.unique), String(i.containers)])
          ),
          "",
          "Snapshots:",
          table(
            ["CHAIN ID", "DIFF ID", "SIZE", "IMAGES", "CONTAINERS"],
            u.snapshots.map((s) => [s.chainId.slice(7, 19), s.diffId.slice(7, 19), humanSize(s.size), String(s.images), String(s.containers)])
          ),
          "",
          "Containers:",
          table(
            ["CONTAINER ID", "IMAGE", "SIZE", "MOUNTED"],
            u.containers.map((c) => [c.id.slice(0, 12), c.image ?? "", humanSize(c.size), c.mounted ? "yes" : "no"])
          )
        )
      }
      return parts.join("\n")
    })
  }
})

export const prune = command({
  name: "prune",
  summary: "Remove snapshots and blobs no image or container references",
  usage: "",
  examples: ["cairn prune --dry-run", "cairn prune"],
  options: { "dry-run": { type: "boolean", description: "list what would be removed, remove nothing" } },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const engine = await ctx.engine()
    const r = await engine.prune({ dryRun: Boolean(opts["dry-run"]) })
    ctx.out.result(r, () =>
      [...r.removed.map((x) => `${opts["dry-run"] ? "would remove" : "removed"} ${x}`), `${opts["dry-run"] ? "would reclaim" : "reclaimed"} ${humanSize(r.bytes)}`].join("\n")
    )
  }
})

export const fsck = command({
  name: "fsck",
  summary: "Verify every blob and snapshot; report dangling tags, orphans and corruption",
  usage: "",
  examples: ["cairn fsck", "cairn fsck --repair"],
  options: { repair: { type: "boolean", description: "quarantine corrupt blobs and remove half-made snapshots" } },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const engine = await ctx.engine()
    const report = await engine.fsck({ repair: Boolean(opts["repair"]) })
    ctx.out.result(report, () => JSON.stringify(report, null, 2))
    if (!report.ok) process.exitCode = 1
  }
})

export const info = command({
  name: "info",
  summary: "Show the root, the mount drivers that work here (and why the others don't), and versions",
  usage: "",
  examples: ["cairn info", "cairn info --json"],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const engine = await ctx.engine()
    const i = await engine.info()
    ctx.out.result(i, () => JSON.stringify(i, null, 2))
  }
})
