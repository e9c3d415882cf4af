import { spawn } from "node:child_process"
import { constants } from "node:os"
import { command } from "../command.js"
import { UsageError } from "../errors.js"
import { referenceMatch, parseFilters } from "../filters.js"
import { formatOpt, formatRows } from "../format.js"
import { ago, shortId, table } from "../output.js"

export const create = command({
  name: "create",
  summary: "Create a container: a thin writable layer over an image's shared snapshots",
  usage: "IMAGE",
  examples: ["cairn create busybox", "cairn create --name web myapp:v1"],
  options: { name: { type: "string", value: "NAME", description: "a name to refer to the container by" } },
  args: { min: 1, max: 1 },
  async run(ctx, [image], opts) {
    const engine = await ctx.engine()
    const name = typeof opts["name"] === "string" ? opts["name"] : undefined
    const c = await engine.createContainer(image!, name === undefined ? {} : { name })
    ctx.out.result(c, () => c.id, () => [c.id])
  }
})

export const mount = command({
  name: "mount",
  summary: "Mount a container's root filesystem and print the mount point",
  usage: "CONTAINER",
  examples: ["cd $(cairn mount web)"],
  args: { min: 1, max: 1 },
  async run(ctx, [id]) {
    const engine = await ctx.engine()
    // the mount must outlive this command: as non-root that takes `cairn unshare`
    const path = await engine.mountContainer(id!, { outlive: true })
    ctx.out.result({ container: id, mountpoint: path }, () => path, () => [path])
  }
})

export const umount = command({
  name: "umount",
  summary: "Unmount a container's root filesystem (its changes stay in its writable layer)",
  usage: "CONTAINER",
  examples: ["cairn umount web"],
  args: { min: 1, max: 1 },
  async run(ctx, [id]) {
    const engine = await ctx.engine()
    await engine.unmountContainer(id!)
    ctx.out.result({ container: id }, () => undefined)
  }
})

const containerFields = ["ID", "Names", "Image", "ImageID", "CreatedAt", "RunningFor", "Mounted", "Mountpoint", "Driver"]

export const ps = command({
  name: "ps",
  summary: "List containers (all of them, mounted or not; --filter status=mounted for the mounted ones)",
  usage: "",
  description:
    "Unlike docker, ps lists every container by default (a cairn container is storage, not a process: there is no\n" +
    "\"running\" to hide the others behind); -a/--all is accepted for docker's muscle memory and changes nothing.\n" +
    "--filter status=mounted|unmounted, ancestor=IMAGE (a name glob as images --filter reference, or an ID prefix).",
  examples: ["cairn ps", "cairn ps --filter status=mounted", "cairn ps --filter ancestor=busybox -q", "cairn ps --json"],
  options: {
    all: { type: "boolean", short: "a", description: "list all containers (the default already; kept for docker compatibility)" },
    filter: { type: "string", short: "f", multiple: true, value: "KEY=VALUE", description: "status=mounted|unmounted, ancestor=IMAGE (repeatable; all must hold)" },
    "no-trunc": { type: "boolean", description: "show full container and image IDs" },
    format: formatOpt(containerFields)
  },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const filters = parseFilters(opts["filter"], ["status", "ancestor"])
    const status = filters.get("status") ?? []
    for (const v of status) if (v !== "mounted" && v !== "unmounted") throw new UsageError(`bad --filter status=${v}: expected mounted or unmounted`)
    const ancestors = filters.get("ancestor") ?? []
    const engine = await ctx.engine()
    const hex = (d: string | undefined) => (d ?? "").replace(/^sha256:/, "")
    const list = (await engine.listContainers()).filter(
      (c) =>
        status.every((v) => (v === "mounted") === Boolean(c.mounted)) &&
        ancestors.every((a) => (c.image !== undefined && referenceMatch(a, c.image)) || (hex(a).length >= 4 && hex(c.imageDigest).startsWith(hex(a))))
    )
    const id = (d: string | undefined) => (opts["no-trunc"] ? (d ?? "-") : shortId(d))
    if (typeof opts["format"] === "string") {
      const rows = list.map((c) => ({
        ID: id(c.id),
        Names: c.name ?? "",
        Image: c.image ?? id(c.imageDigest),
        ImageID: id(c.imageDigest),
        CreatedAt: c.created,
        RunningFor: ago(c.created),
        Mounted: Boolean(c.mounted),
        Mountpoint: c.mountpoint ?? "",
        Driver: c.driver ?? ""
      }))
      ctx.out.out.write(formatRows(opts["format"], containerFields, rows, "ps"))
      return
    }
    ctx.out.result(list, () =>
      table(
        ["CONTAINER ID", "IMAGE", "CREATED", "MOUNTED", "NAME"],
        list.map((c) => [id(c.id), c.image ?? id(c.imageDigest), ago(c.created), c.mountpoint ?? (c.mounted ? "yes" : "-"), c.name ?? ""])
      ),
      () => list.map((c) => id(c.id))
    )
  }
})

export const diff = command({
  name: "diff",
  summary: "List files a container added (A), changed (C) or deleted (D), like docker diff",
  usage: "CONTAINER",
  examples: ["cairn diff web"],
  args: { min: 1, max: 1 },
  async run(ctx, [id]) {
    const engine = await ctx.engine()
    const changes = await engine.diffContainer(id!)
    ctx.out.result(changes, () => changes.map((c) => `${c.kind} ${c.path}`).join("\n"))
  }
})

export const commit = command({
  name: "commit",
  summary: "Turn a container's writable layer into a new image layer",
  usage: "CONTAINER [NAME]",
  examples: ['cairn commit -m "add config" web myapp:v2'],
  options: {
    message: { type: "string", short: "m", value: "TEXT", description: "history comment" },
    author: { type: "string", short: "a", value: "NAME", description: "author recorded in the image config" }
  },
  args: { min: 1, max: 2 },
  async run(ctx, [id, name], opts) {
    const engine = await ctx.engine()
    const o: { name?: string; message?: string; author?: string } = {}
    if (name !== undefined) o.name = name
    if (typeof opts["message"] === "string") o.message = opts["message"]
    if (typeof opts["author"] === "string") o.author = opts["author"]
    const img = await engine.commitContainer(id!, o)
    ctx.out.result(img, () => img.digest, () => [img.digest])
  }
})

export const rm = command({
  name: "rm",
  summary: "Remove containers (their writable layers are discarded; images stay)",
  usage: "CONTAINER...",
  examples: ["cairn rm web", "cairn rm -f web"],
  options: { force: { type: "boolean", short: "f", description: "unmount first if mounted" } },
  args: { min: 1, max: Number.POSITIVE_INFINITY },
  async run(ctx, ids, opts) {
    const engine = await ctx.engine()
    for (const id of ids) {
      await engine.removeContainer(id, { force: Boolean(opts["force"]) })
      ctx.out.info(id)
    }
    ctx.out.result({ removed: ids }, () => undefined)
  }
})

const osSignals = constants.signals as Readonly<Record<string, number>>

export const unshare = command({
  name: "unshare",
  summary: "Run a command (default: your shell) in the user namespace that holds this root's rootless mounts, like podman unshare",
  usage: "[COMMAND [ARGS...]]",
  description: [
    "As a non-root user a mount lives in a user + mount namespace. The first `cairn unshare` starts a",
    "small holder process for the root (podman's pause process; its pid is in ROOT/userns.json) that",
    "keeps that namespace after the command ends; every `cairn unshare` enters it with nsenter, so",
    "mounts made in there stay until `cairn umount` (run in there too), or until the holder ends.",
    "Outside it, `cairn mount` as non-root says to run it in here. As root the command runs as it is.",
    "Put `--` before a COMMAND that has options of its own. CAIRN_ROOT is set to the root for COMMAND."
  ].join("\n"),
  examples: ["cairn unshare", "cairn unshare cairn mount web", "cairn unshare -- sh -c 'cd $(cairn mount web) && ls'"],
  args: { min: 0, max: Number.POSITIVE_INFINITY },
  async run(ctx, argv) {
    const engine = await ctx.engine()
    const root = engine.root
    const cmd = argv.length > 0 ? [...argv] : [process.env["SHELL"] || "/bin/sh"]
    // loaded here, not at start-up: a static import of @cairn/engine costs every command (even --help) the engine and effect
    const { currentHolder, ensureHolder, enterArgs, insideHolder, isHostRoot } = await import("@cairn/engine")
    const full = isHostRoot() || insideHolder(await currentHolder(root)) ? cmd : enterArgs(await ensureHolder(root), cmd)
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(full[0]!, full.slice(1), { stdio: "inherit", env: { ...process.env, CAIRN_ROOT: root } })
      child.on("error", (e: NodeJS.ErrnoException) =>
        reject(new Error(e.code === "ENOENT" ? `${full[0]} not found${full[0] === "nsenter" ? " (install util-linux)" : ""}` : e.message)))
      child.on("exit", (c, signal) => resolve(c ?? 128 + (signal === null ? 0 : (osSignals[signal] ?? 0))))
    })
    process.exitCode = code
  }
})
