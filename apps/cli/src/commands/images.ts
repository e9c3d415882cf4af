import { pipeline } from "node:stream/promises"
import { allPlatformsOption, command } from "../command.js"
import { archiveFailure, stdinArchive, stdioArchive, toStdout } from "./archive.js"
import { UsageError } from "../errors.js"
import { parseFilters, referenceMatch } from "../filters.js"
import { formatOpt, formatRows } from "../format.js"
import { ago, humanSize, shortId, table } from "../output.js"

const imageFields = ["ID", "Repository", "Tag", "Digest", "CreatedAt", "CreatedSince", "Size", "Platform", "Platforms"]

/** "repo:tag" → ["repo", "tag"]; the tag is after the last colon not followed by a slash. */
function splitName(name: string | undefined): [string, string] {
  if (!name) return ["<none>", "<none>"]
  const at = name.lastIndexOf(":")
  if (at > name.lastIndexOf("/")) return [name.slice(0, at), name.slice(at + 1)]
  return [name, "latest"]
}

export const importCmd = command({
  name: "import",
  summary: "Import an image from an OCI layout, an oci-archive or a docker-archive",
  usage: "SOURCE [NAME]",
  description:
    "SOURCE is oci:PATH[:TAG] (an OCI image layout directory), oci-archive:FILE or docker-archive:FILE\n" +
    "(what `docker save` writes); `-` (or oci-archive:- / docker-archive:-) reads the archive from stdin. NAME is the local name[:tag] to give the image (default: the source's tag).\n" +
    "Every blob is verified, and each layer is extracted once into a snapshot shared by all images over it\n" +
    "(as `docker load` does); with --no-unpack that waits for the image's first use (create, mount).",
  examples: [
    "cairn import oci:./layout:v1 myapp:v1",
    "cairn import docker-archive:busybox.tar",
    "cairn import --no-unpack oci:./layout:v1 myapp:v1",
    "cairn --root /tmp/cairn import oci-archive:image.tar base",
    "ssh host cairn export app docker-archive:- | cairn import - app"
  ],
  options: {
    "no-unpack": { type: "boolean", description: "store the blobs only; snapshots are made on first use (ctr images import --no-unpack)" },
    "all-platforms": allPlatformsOption
  },
  args: { min: 1, max: 2 },
  async run(ctx, [source, name], opts) {
    const engine = await ctx.engine()
    const options = { ...(opts["no-unpack"] === true ? { unpack: false } : {}), ...(opts["all-platforms"] === true ? { allPlatforms: true } : {}) }
    const stdin = stdioArchive(source!)
    const img =
      stdin === undefined
        ? await engine.importImage(source!, name, options)
        : await engine.importImage(stdinArchive(stdin.kind, stdin.suffix === "" ? undefined : stdin.suffix.slice(1)), name, options).catch(async (e: unknown) => {
            throw await archiveFailure("stdin", e)
          })
    ctx.out.result(img, () => `imported ${img.names?.[0] ?? img.digest} (${img.digest})`, () => [img.digest])
  }
})

export const exportCmd = command({
  name: "export",
  summary: "Export an image to an OCI layout, an oci-archive or a docker-archive",
  usage: "IMAGE DEST",
  description:
    "DEST is oci:PATH[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME] (`docker load` reads it);\n" +
    "oci-archive:- or docker-archive:- writes the archive to stdout.",
  examples: ["cairn export myapp:v1 oci:./out:v1", "cairn export myapp:v1 docker-archive:myapp.tar", "cairn export myapp:v1 docker-archive:- | gzip > myapp.tar.gz"],
  args: { min: 2, max: 2 },
  async run(ctx, [image, dest]) {
    const engine = await ctx.engine()
    const stdout = stdioArchive(dest!)
    if (stdout !== undefined) {
      if (stdout.kind === undefined) throw new UsageError("DEST -: name the kind, oci-archive:- or docker-archive:-", "export")
      if (ctx.out.tty) throw new UsageError("refusing to write an archive to a terminal: redirect stdout", "export")
      const ref = stdout.suffix.slice(1)
      await toStdout(ctx.out.out, (write) => engine.exportImage(image!, { kind: stdout.kind!, write, ...(ref === "" ? {} : { ref }), label: "stdout" }))
      return
    }
    await engine.exportImage(image!, dest!)
    ctx.out.result({ image, dest }, () => `exported ${image} to ${dest}`)
  }
})

export const images = command({
  name: "images",
  summary: "List images",
  usage: "[REPOSITORY[:TAG]]",
  description:
    "REPOSITORY[:TAG] and --filter reference=PATTERN match as in docker: a glob (* and ? within a path segment) against\n" +
    "repo:tag or the repository alone. --filter dangling=true lists images without a name, dangling=false the named ones;\n" +
    "before=IMAGE / since=IMAGE: images created before / after IMAGE (a name or an ID prefix).",
  examples: ["cairn images", "cairn images busybox", "cairn images --filter 'reference=my*:v1'", "cairn images --no-trunc", "cairn images --json | jq '.[].digest'"],
  options: {
    digests: { type: "boolean", description: "show manifest digests" },
    filter: { type: "string", short: "f", multiple: true, value: "KEY=VALUE", description: "dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE (repeatable; all must hold)" },
    "no-trunc": { type: "boolean", description: "show full image IDs (sha256:…)" },
    format: formatOpt(imageFields)
  },
  args: { min: 0, max: 1 },
  async run(ctx, [repo], opts) {
    const filters = parseFilters(opts["filter"], ["dangling", "reference", "before", "since"])
    const dangling = filters.get("dangling")?.map((v) => {
      if (v !== "true" && v !== "false") throw new UsageError(`bad --filter dangling=${v}: expected true or false`)
      return v === "true"
    })
    const patterns = [...(filters.get("reference") ?? []), ...(repo === undefined ? [] : [repo])]
    const engine = await ctx.engine()
    const all = await engine.listImages()
    // before=/since=IMAGE: a name (":latest" implied) or an ID prefix of an image in the list, compared by creation time
    const createdOf = (ref: string): number => {
      const hex = ref.replace(/^sha256:/, "")
      const img = all.find((i) => i.names.some((n) => n === ref || n === `${ref}:latest`)) ?? (hex.length >= 4 ? all.find((i) => i.digest.slice(7).startsWith(hex)) : undefined)
      if (!img) throw new UsageError(`--filter before/since: no image "${ref}" in this root`)
      return Date.parse(img.created ?? "")
    }
    const before = (filters.get("before") ?? []).map(createdOf)
    const since = (filters.get("since") ?? []).map(createdOf)
    const list = all
      .filter((img) => before.every((t) => Date.parse(img.created ?? "") < t) && since.every((t) => Date.parse(img.created ?? "") > t))
      .filter((img) => dangling === undefined || dangling.every((d) => d === (img.names.length === 0)))
      .map((img) => (patterns.length === 0 ? img : { ...img, names: img.names.filter((n) => patterns.every((p) => referenceMatch(p, n))) }))
      .filter((img) => patterns.length === 0 || img.names.length > 0)
    const id = (digest: string) => (opts["no-trunc"] ? digest : shortId(digest))
    if (typeof opts["format"] === "string") {
      const rows = list.flatMap((img) =>
        (img.names.length > 0 ? img.names : [undefined]).map((n) => {
          const [repository, tag] = splitName(n)
          return { ID: id(img.digest), Repository: repository, Tag: tag, Digest: img.digest, CreatedAt: img.created ?? "", CreatedSince: ago(img.created), Size: humanSize(img.size), Platform: img.platform, Platforms: (img.platforms ?? [img.platform]).join(",") }
        })
      )
      ctx.out.out.write(formatRows(opts["format"], imageFields, rows, "images"))
      return
    }
    ctx.out.result(list, () => {
      const rows: string[][] = []
      for (const img of list) {
        const names = img.names.length > 0 ? img.names : [undefined]
        for (const n of names) {
          const [repo, tag] = splitName(n)
          const row = [repo, tag]
          if (opts["digests"]) row.push(img.digest)
          row.push(id(img.digest), ago(img.created), humanSize(img.size))
          rows.push(row)
        }
      }
      const headers = ["REPOSITORY", "TAG", ...(opts["digests"] ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"]
      return table(headers, rows)
    }, () => [...new Set(list.map((img) => id(img.digest)))])
  }
})

export const inspect = command({
  name: "inspect",
  summary: "Show an image's manifest, config and layers (JSON)",
  usage: "IMAGE",
  examples: ["cairn inspect myapp:v1", "cairn inspect sha256:3f5e…"],
  args: { min: 1, max: 1 },
  async run(ctx, [image]) {
    const engine = await ctx.engine()
    const info = await engine.inspectImage(image!)
    // inspect is JSON for people too, as in docker
    ctx.out.result(info, () => JSON.stringify(info, null, 2))
  }
})

export const history = command({
  name: "history",
  summary: "Show the history of an image, one row per config history entry",
  usage: "IMAGE",
  examples: ["cairn history myapp:v1", "cairn history --no-trunc myapp:v1"],
  options: { "no-trunc": { type: "boolean", description: "don't truncate the CREATED BY column" } },
  args: { min: 1, max: 1 },
  async run(ctx, [image], opts) {
    const engine = await ctx.engine()
    const rows = await engine.history(image!)
    ctx.out.result(rows, () =>
      table(
        ["LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        rows.map((r) => {
          const by = r.createdBy ?? ""
          return [
            r.emptyLayer ? "<missing>" : shortId(r.layer),
            ago(r.created),
            opts["no-trunc"] || by.length <= 45 ? by : `${by.slice(0, 44)}…`,
            humanSize(r.size),
            r.comment ?? ""
          ]
        })
      )
    )
  }
})

export const tag = command({
  name: "tag",
  summary: "Give an image another name",
  usage: "IMAGE NAME",
  examples: ["cairn tag myapp:v1 myapp:latest"],
  args: { min: 2, max: 2 },
  async run(ctx, [image, name]) {
    const engine = await ctx.engine()
    await engine.tag(image!, name!)
    ctx.out.result({ image, name }, () => undefined)
  }
})

export const rmi = command({
  name: "rmi",
  summary: "Remove images (untag; blobs go at the next prune)",
  usage: "IMAGE...",
  examples: ["cairn rmi myapp:v1", "cairn rmi --force base:latest"],
  options: { force: { type: "boolean", short: "f", description: "remove even when containers use the image" } },
  args: { min: 1, max: Number.POSITIVE_INFINITY },
  async run(ctx, imgs, opts) {
    const engine = await ctx.engine()
    const results = []
    for (const image of imgs) {
      const r = await engine.removeImage(image, { force: Boolean(opts["force"]) })
      results.push({ image, ...r })
      for (const u of r.untagged) ctx.out.info(`Untagged: ${u}`)
      for (const d of r.deleted) ctx.out.info(`Deleted: ${d}`)
    }
    ctx.out.result(results, () => undefined)
  }
})

export const unpack = command({
  name: "unpack",
  summary: "Write an image's flat root filesystem into a directory",
  usage: "IMAGE DIR",
  description:
    "Layers are applied in order with whiteouts performed, as `umoci raw unpack` does; an image whose snapshots\n" +
    "exist is copied from them. IMAGE is a local image or an oci:PATH[:TAG], oci-archive:FILE[:REF] or\n" +
    "docker-archive:FILE[:REF] source, read where it lies (both digests verified) and not stored unless --keep.\n" +
    "DIR must be absent or empty; it appears only once complete.",
  examples: ["cairn unpack myapp:v1 ./rootfs", "cairn unpack oci:./layout:v1 ./rootfs", "cairn unpack --keep docker-archive:busybox.tar ./rootfs"],
  options: { keep: { type: "boolean", description: "import a transport source's image into the store too (its snapshots deferred)" } },
  args: { min: 2, max: 2 },
  async run(ctx, [image, dir], opts) {
    const engine = await ctx.engine()
    await engine.unpack(image!, dir!, opts["keep"] === true ? { keep: true } : {})
    ctx.out.result({ image, dir }, () => `unpacked ${image} into ${dir}`)
  }
})

export const bundle = command({
  name: "bundle",
  summary: "Write an OCI runtime bundle (DIR/rootfs + DIR/config.json) that crun or runc can run",
  usage: "IMAGE DIR",
  description:
    "IMAGE is a local image or an oci:PATH[:TAG], oci-archive:FILE[:REF] or docker-archive:FILE[:REF] source\n" +
    "(read where it lies, not stored unless --keep). DIR must be absent or empty; it appears only once complete.",
  examples: ["cairn bundle busybox ./b && crun run --bundle ./b demo", "cairn bundle oci:./layout:v1 ./b"],
  options: { keep: { type: "boolean", description: "import a transport source's image into the store too (its snapshots deferred)" } },
  args: { min: 2, max: 2 },
  async run(ctx, [image, dir], opts) {
    const engine = await ctx.engine()
    await engine.bundle(image!, dir!, opts["keep"] === true ? { keep: true } : {})
    ctx.out.result({ image, dir }, () => `bundle written to ${dir} (rootfs/ and config.json)`)
  }
})

export const ls = command({
  name: "ls",
  summary: "List files of an image without mounting it",
  usage: "IMAGE [PATH]",
  examples: ["cairn ls busybox /bin", "cairn ls --json busybox /etc"],
  args: { min: 1, max: 2 },
  async run(ctx, [image, path]) {
    const engine = await ctx.engine()
    const entries = await engine.listFiles(image!, path ?? "/")
    ctx.out.result(entries, () =>
      entries
        .map((e) => {
          const mode = typeof e.mode === "number" ? (e.mode & 0o7777).toString(8).padStart(4, "0") : ""
          const link = e.linkTarget ? ` -> ${e.linkTarget}` : ""
          return `${e.type.padEnd(9)} ${mode} ${String(e.uid ?? 0).padStart(5)}:${String(e.gid ?? 0).padEnd(5)} ${String(e.size ?? 0).padStart(10)}  ${e.name}${link}`
        })
        .join("\n")
    )
  }
})

export const cat = command({
  name: "cat",
  summary: "Print a file of an image without mounting it",
  usage: "IMAGE PATH",
  examples: ["cairn cat busybox /etc/passwd"],
  args: { min: 2, max: 2 },
  async run(ctx, [image, path]) {
    const engine = await ctx.engine()
    const stream = await engine.readFile(image!, path!)
    await pipeline(stream, ctx.out.out, { end: false })
  }
})

export const flatten = command({
  name: "flatten",
  summary: "Squash an image's layers into a new single-layer image",
  usage: "IMAGE NAME",
  examples: ["cairn flatten myapp:v1 myapp:flat"],
  args: { min: 2, max: 2 },
  async run(ctx, [image, name]) {
    const engine = await ctx.engine()
    const img = await engine.flatten(image!, name!)
    ctx.out.result(img, () => `flattened ${image} into ${name} (${img.digest})`)
  }
})

export const exportFs = command({
  name: "export-fs",
  summary: "Write the merged filesystem of an image or container as a tar (like docker export)",
  usage: "IMAGE|CONTAINER",
  examples: ["cairn export-fs web -o web.tar", "cairn export-fs busybox | tar -t"],
  options: { output: { type: "string", short: "o", value: "FILE", description: "write to FILE instead of stdout" } },
  args: { min: 1, max: 1 },
  async run(ctx, [target], opts) {
    const engine = await ctx.engine()
    const file = opts["output"]
    if (typeof file === "string") {
      await engine.exportFs(target!, file)
      ctx.out.info(`wrote ${file}`)
      return
    }
    if (ctx.out.tty) throw new UsageError("refusing to write a tar to a terminal: use -o FILE or redirect stdout", "export-fs")
    await engine.exportFs(target!, ctx.out.out)
  }
})

export const analyze = command({
  name: "analyze",
  summary: "Per-layer analysis: files and bytes added, modified, deleted, and bytes wasted (like dive)",
  usage: "IMAGE",
  examples: ["cairn analyze myapp:v1", "cairn analyze --json myapp:v1 | jq '.[].bytesWasted'"],
  args: { min: 1, max: 1 },
  async run(ctx, [image]) {
    const engine = await ctx.engine()
    const report = await engine.analyze(image!)
    ctx.out.result(report, () => {
      const wasted = report.reduce((n, l) => n + l.bytesWasted, 0)
      const total = report.reduce((n, l) => n + l.bytes, 0)
      return [
        table(
          ["LAYER", "SIZE", "FILES", "ADDED", "MODIFIED", "DELETED", "WASTED", "CREATED BY"],
          report.map((l) => [
            shortId(l.digest),
            humanSize(l.size),
            String(l.entries),
            `${l.filesAdded} (${humanSize(l.bytesAdded)})`,
            `${l.filesModified} (${humanSize(l.bytesModified)})`,
            `${l.filesDeleted} (${humanSize(l.bytesDeleted)})`,
            humanSize(l.bytesWasted),
            (l.createdBy ?? "").length <= 40 ? (l.createdBy ?? "") : `${l.createdBy!.slice(0, 39)}…`
          ])
        ),
        `${humanSize(wasted)} of ${humanSize(total)} of file bytes are wasted (shadowed or deleted by a later layer)`
      ].join("\n")
    })
  }
})

