import { allPlatformsOption, command } from "../command.js"
import { UsageError } from "../errors.js"
import { registryClient, registryOptions, withTlsHint } from "./login.js"

const platformOpt = { type: "string", value: "OS/ARCH[/VARIANT]", description: "platform to pick from a multi-platform image (default: this host's)" } as const

export const pull = command({
  name: "pull",
  summary: "Pull an image from a registry (only missing blobs cross the network)",
  usage: "REF [NAME]",
  description: "REF is [registry/]repo[:tag|@digest]; short names go to Docker Hub. Loopback registries (127.0.0.0/8,\nlocalhost, ::1) are spoken to over plain HTTP, as docker does; every other registry over HTTPS unless\n--tls-verify=false. Credentials: --creds, else the auth file `cairn login` writes (podman's, then ~/.docker/config.json).",
  examples: [
    "cairn pull 127.0.0.1:5000/library/debian:latest",
    "cairn pull --platform linux/arm64 docker.io/library/alpine:3.20 alpine",
    "cairn pull --all-platforms docker.io/library/alpine:3.20"
  ],
  options: {
    platform: platformOpt,
    "all-platforms": allPlatformsOption,
    concurrency: { type: "string", value: "N", description: "layers downloaded at once" },
    ...registryOptions
  },
  args: { min: 1, max: 2 },
  async run(ctx, [ref, name], opts) {
    if (opts["all-platforms"] === true && typeof opts["platform"] === "string") throw new UsageError("--all-platforms and --platform exclude each other: --all-platforms keeps every platform")
    const client = await registryClient(opts, [ref!], false, ctx.root)
    try {
      const engine = await ctx.engine()
      const o: { platform?: string; allPlatforms?: boolean; concurrency?: number; client: typeof client } = { client }
      if (typeof opts["platform"] === "string") o["platform"] = opts["platform"]
      if (opts["all-platforms"] === true) o["allPlatforms"] = true
      if (typeof opts["concurrency"] === "string") o["concurrency"] = Number(opts["concurrency"])
      const img = await withTlsHint(opts, () => engine.pull(ref!, name, o))
      ctx.out.result(img, () => `pulled ${ref} (${img.digest})`, () => [img.digest])
    } finally {
      client.close()
    }
  }
})

export const push = command({
  name: "push",
  summary: "Push a local image to a registry (blobs it has are skipped)",
  usage: "IMAGE REF",
  examples: ["cairn push myapp:v1 127.0.0.1:5000/me/myapp:v1", "cairn push --creds alice:s3cret --tls-verify=false myapp:v1 registry.lan:5000/me/myapp:v1"],
  options: registryOptions,
  args: { min: 2, max: 2 },
  async run(ctx, [image, ref], opts) {
    const client = await registryClient(opts, [ref!], false, ctx.root)
    try {
      const engine = await ctx.engine()
      const r = await withTlsHint(opts, () => engine.push(image!, ref!, { client }))
      ctx.out.result(r, () => `pushed ${image} to ${ref} (${r.digest})`, () => [r.digest])
    } finally {
      client.close()
    }
  }
})

export const copy = command({
  name: "copy",
  summary: "Copy an image between registries, layouts, archives and the local store",
  usage: "SRC DST",
  description: "Transports: docker://REF, oci:PATH[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME], local:IMAGE.",
  examples: ["cairn copy docker://127.0.0.1:5000/a:1 oci:./a:1", "cairn copy oci:./a:1 docker://127.0.0.1:5000/b:1", "cairn copy --all docker://127.0.0.1:5000/multi:1 oci:./multi:1"],
  options: {
    all: { type: "boolean", short: "a", description: "copy a multi-platform image whole, every platform and its index (default: this host's)" },
    ...registryOptions
  },
  args: { min: 2, max: 2 },
  async run(ctx, [src, dst], opts) {
    const client = await registryClient(opts, [src!, dst!], true, ctx.root)
    try {
      const engine = await ctx.engine()
      const r = await withTlsHint(opts, () => engine.copy(src!, dst!, { client, ...(opts["all"] === true ? { allPlatforms: true } : {}) }))
      ctx.out.result(r, () => `copied ${src} to ${dst} (${r.digest})`, () => [r.digest])
    } finally {
      client.close()
    }
  }
})
