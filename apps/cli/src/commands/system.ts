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
  examples: ["cairn fsck", "cairn fsck --repair", "cairn fsck --json | jq .ok"],
  options: { repair: { type: "boolean", description: "quarantine corrupt blobs and remove half-made snapshots" } },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const engine = await ctx.engine()
    const report = await engine.fsck({ repair: Boolean(opts["repair"]) })
    ctx.out.result(report, () => {
      const s = report.store
      const lines = [`checked ${s.blobs} blobs (${humanSize(s.bytes)})`]
      for (const c of s.corrupt) lines.push(`corrupt blob ${c.digest}: its bytes hash to ${c.actual}${c.quarantinedTo ? ` (moved to ${c.quarantinedTo})` : ""}`)
      for (const m of s.missing) lines.push(`missing blob ${m.digest} (needed by ${m.chain.join(" > ")})`)
      for (const m of s.sizeMismatches) lines.push(`blob ${m.digest} has ${m.actual} bytes, its descriptor says ${m.expected}`)
      for (const t of s.danglingTags) lines.push(`tag ${t.name} points at missing ${t.digest}`)
      for (const b of s.brokenDocuments) lines.push(`broken document ${b.chain.join(" > ")}: ${b.reason}`)
      for (const p of report.problems) lines.push(p)
      for (const r of report.repaired) lines.push(`repaired: ${r}`)
      if (s.orphans.length > 0) lines.push(`${s.orphans.length} unreferenced blobs (${humanSize(s.orphans.reduce((n, o) => n + o.size, 0))}); \`cairn prune\` removes them`)
      const problems = lines.length - 1 - report.repaired.length - (s.orphans.length > 0 ? 1 : 0)
      lines.push(report.ok ? "ok: no problems found" : `FAILED: ${problems} problem${problems === 1 ? "" : "s"} found${opts["repair"] ? "" : "; `cairn fsck --repair` fixes what it can"}`)
      return lines.join("\n")
    })
    if (!report.ok) process.exitCode = 1
  }
})

export const info = command({
  name: "info",
  summary: "Show the root, the mount drivers that work here (and why the others don't), and versions",
  usage: "",
  examples: ["cairn info", "cairn info --json | jq .drivers"],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const engine = await ctx.engine()
    const i = await engine.info()
    ctx.out.result(i, () =>
      [
        `Root:     ${i.root}`,
        `Kernel:   ${i.kernel}`,
        `Driver:   ${i.chosenDriver ?? "none usable"}`,
        `Registries: ${i.registries.file}${i.registries.error ? ` (unusable: ${i.registries.error})` : ` (${i.registries.registries.length === 0 ? "none configured" : i.registries.registries.map((r) => `${r.prefix}${r.blocked ? " blocked" : ""} -> ${[...r.mirrors.map((m) => `${m.location} [mirror, ${m.pullFromMirror}]`), r.location].join(", ")}`).join("; ")})`}`,
        "",
        table(
          ["DRIVER", "USABLE", "WHY"],
          i.drivers.map((d) => [d.driver, d.usable ? "yes" : "no", d.reasons.join("; ")])
        ),
        "",
        table(
          ["COMPONENT", "VERSION"],
          Object.entries(i.versions).map(([k, v]) => [k, v])
        )
      ].join("\n")
    )
  }
})
