import { command } from "../command.js"
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
    const path = await engine.mountContainer(id!)
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

export const ps = command({
  name: "ps",
  summary: "List containers",
  usage: "",
  examples: ["cairn ps", "cairn ps --json"],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const engine = await ctx.engine()
    const list = await engine.listContainers()
    ctx.out.result(list, () =>
      table(
        ["CONTAINER ID", "IMAGE", "CREATED", "MOUNTED", "NAME"],
        list.map((c) => [shortId(c.id), c.image ?? shortId(c.imageDigest), ago(c.created), c.mountpoint ?? (c.mounted ? "yes" : "-"), c.name ?? ""])
      ),
      () => list.map((c) => shortId(c.id))
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
