import { command } from "../command.js"

export const serve = command({
  name: "serve",
  summary: "Serve this root over HTTP: the JSON API, /openapi.json and an OCI registry at /v2/ (cairn-api)",
  usage: "",
  description:
    "Binds 127.0.0.1 unless --listen says otherwise (another address needs a token). With a token (--token-file or\n" +
    "$CAIRN_API_TOKEN, at least 16 bytes) every request\n" +
    "needs `Authorization: Bearer TOKEN`. SIGINT/SIGTERM finish in-flight requests, then stop; no partial blob stays visible.",
  examples: [
    "cairn serve --listen 127.0.0.1:5000",
    "skopeo copy --src-tls-verify=false docker://127.0.0.1:5000/busybox:latest oci:./bb:latest",
    "CAIRN_API_TOKEN=$(openssl rand -hex 32) cairn serve --read-only",
    "cairn serve --mirror registry.internal:5000 --mirror-max-bytes 50000000000"
  ],
  options: {
    listen: { type: "string", value: "HOST:PORT", description: "address to listen on (default 127.0.0.1:5000; port 0 picks a free one)" },
    "token-file": { type: "string", value: "FILE", description: "bearer token required on every request" },
    "read-only": { type: "boolean", description: "refuse every write" },
    mirror: { type: "string", multiple: true, value: "HOST[:PORT]", description: "serve /v2 as a pull-through cache of this registry (repeatable)" },
    "mirror-ttl": { type: "string", value: "SECONDS", description: "revalidate a mirrored tag after this long (default 300)" },
    "mirror-max-bytes": { type: "string", value: "N", description: "evict least-recently-used mirrored content beyond N bytes" },
    "mirror-forward-push": { type: "boolean", description: "relay pushes to the upstream instead of refusing them" }
  },
  args: { min: 0, max: 0 },
  async run(ctx, _args, opts) {
    const argv: string[] = []
    if (ctx.root !== undefined) argv.push("--root", ctx.root)
    if (typeof opts["listen"] === "string") argv.push("--listen", opts["listen"])
    if (typeof opts["token-file"] === "string") argv.push("--token-file", opts["token-file"])
    if (opts["read-only"]) argv.push("--read-only")
    for (const m of (opts["mirror"] as string[] | undefined) ?? []) argv.push("--mirror", m)
    for (const f of ["mirror-ttl", "mirror-max-bytes"]) if (typeof opts[f] === "string") argv.push(`--${f}`, opts[f] as string)
    if (opts["mirror-forward-push"]) argv.push("--mirror-forward-push")
    const { main: apiMain } = await import("@cairn/api")
    const code = await apiMain(argv)
    if (code !== 0) process.exitCode = code
  }
})
