// The `cairn-api` binary: one engine root served over HTTP until SIGINT/SIGTERM.
import { readFile } from "node:fs/promises"
import { Engine } from "@cairn/engine"
import { MIN_TOKEN_BYTES } from "./auth.js"
import { VERSION } from "./definition.js"
import { createServer, refuseListen } from "./server.js"

export interface CliOptions {
  readonly root?: string
  readonly host: string
  readonly port: number
  readonly tokenFile?: string
  readonly readOnly: boolean
  readonly shutdownTimeoutMs?: number
  readonly publicUrl?: string
  readonly mirror?: { readonly upstreams: readonly string[]; readonly ttlMs?: number; readonly maxBytes?: number; readonly forwardPush?: boolean }
}

const USAGE = `usage: cairn-api [--root DIR] [--listen HOST:PORT] [--token-file FILE] [--read-only] [--shutdown-timeout SECONDS] [--public-url URL]
                 [--mirror HOST[:PORT]]... [--mirror-ttl SECONDS] [--mirror-max-bytes N] [--mirror-forward-push]
       cairn-api --version | --help

  --root DIR         engine root (default: CAIRN_ROOT, else /var/lib/cairn for root, else ~/.local/share/cairn)
  --listen HOST:PORT address to bind (default 127.0.0.1:5000; port 0 picks a free one); an address
                     other than loopback needs a token
  --token-file FILE  require this bearer token, at least ${MIN_TOKEN_BYTES} bytes (else CAIRN_API_TOKEN when set)
  --public-url URL   where clients reach the service (e.g. https://… behind a TLS proxy): the token
                     realm in 401 challenges (default: the listen address)
  --read-only        refuse every write
  --mirror HOST[:PORT]
                     serve /v2 as a pull-through cache of this registry (repeatable: tried in
                     order); credentials per host from the auth file; pushes are refused
  --mirror-ttl SECONDS
                     revalidate a mirrored tag after this long (default 300); digests never
  --mirror-max-bytes N
                     evict least-recently-used mirrored content beyond N bytes (local tags stay)
  --mirror-forward-push
                     relay pushes to the (first) upstream instead of refusing them
  --shutdown-timeout SECONDS
                     on SIGINT/SIGTERM, how long in-flight requests may finish (default 10)
`

export class UsageError extends Error {}

export const parseArgs = (argv: ReadonlyArray<string>): CliOptions | "help" | "version" => {
  let root: string | undefined
  let listen = "127.0.0.1:5000"
  let tokenFile: string | undefined
  let readOnly = false
  let shutdownTimeoutMs: number | undefined
  let publicUrl: string | undefined
  const upstreams: string[] = []
  let mirrorTtlMs: number | undefined
  let mirrorMaxBytes: number | undefined
  let forwardPush = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined]
    const value = () => {
      const v = inline ?? argv[++i]
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`)
      return v
    }
    switch (flag) {
      case "--root":
        root = value()
        break
      case "--listen":
        listen = value()
        break
      case "--token-file":
        tokenFile = value()
        break
      case "--shutdown-timeout": {
        const v = Number(value())
        if (!Number.isFinite(v) || v < 0) throw new UsageError("--shutdown-timeout wants a number of seconds")
        shutdownTimeoutMs = v * 1000
        break
      }
      case "--public-url": {
        const v = value()
        let u: URL
        try {
          u = new URL(v)
        } catch {
          throw new UsageError(`--public-url wants an http:// or https:// URL, got ${v}`)
        }
        if ((u.protocol !== "http:" && u.protocol !== "https:") || u.search !== "" || u.hash !== "") {
          throw new UsageError(`--public-url wants an http:// or https:// URL without query, got ${v}`)
        }
        publicUrl = `${u.origin}${u.pathname.replace(/\/+$/, "")}`
        break
      }
      case "--mirror": {
        const v = value().replace(/^https?:\/\//, "").replace(/\/+$/, "")
        if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(v)) throw new UsageError(`--mirror wants a registry HOST[:PORT], got ${v}`)
        upstreams.push(v)
        break
      }
      case "--mirror-ttl": {
        const v = Number(value())
        if (!Number.isFinite(v) || v < 0) throw new UsageError("--mirror-ttl wants a number of seconds")
        mirrorTtlMs = v * 1000
        break
      }
      case "--mirror-max-bytes": {
        const v = Number(value())
        if (!Number.isSafeInteger(v) || v <= 0) throw new UsageError("--mirror-max-bytes wants a positive number of bytes")
        mirrorMaxBytes = v
        break
      }
      case "--mirror-forward-push":
        forwardPush = true
        break
      case "--read-only":
        readOnly = true
        break
      case "-h":
      case "--help":
        return "help"
      case "--version":
        return "version"
      default:
        throw new UsageError(`unknown argument ${a}`)
    }
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(listen)
  const port = Number(m?.[3])
  if (!m || port > 65535) throw new UsageError(`--listen wants HOST:PORT, got ${listen}`)
  return { ...(root ? { root } : {}), host: m[1] ?? m[2] ?? "127.0.0.1", port, ...(tokenFile ? { tokenFile } : {}), readOnly, ...(shutdownTimeoutMs === undefined ? {} : { shutdownTimeoutMs }), ...(publicUrl ? { publicUrl } : {}), ...mirrorOption(upstreams, mirrorTtlMs, mirrorMaxBytes, forwardPush) }
}

const mirrorOption = (upstreams: string[], ttlMs: number | undefined, maxBytes: number | undefined, forwardPush: boolean) => {
  if (upstreams.length === 0) {
    if (ttlMs !== undefined || maxBytes !== undefined || forwardPush) throw new UsageError("--mirror-ttl, --mirror-max-bytes and --mirror-forward-push need --mirror")
    return {}
  }
  return { mirror: { upstreams, ...(ttlMs === undefined ? {} : { ttlMs }), ...(maxBytes === undefined ? {} : { maxBytes }), ...(forwardPush ? { forwardPush } : {}) } }
}

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: "the address is already in use (another server on this port?)",
  EADDRNOTAVAIL: "no interface on this machine has that address",
  EACCES: "permission denied (ports below 1024 need privileges)",
  ENOTFOUND: "the host name does not resolve"
}

/** Why listen() failed, with the errno code, from the error or anything it wraps. */
const listenFailure = (e: unknown): string => {
  for (let x = e as { code?: unknown; cause?: unknown; message?: unknown } | undefined, n = 0; x && n < 5; x = x.cause as typeof x, n++) {
    const code = typeof x.code === "string" ? x.code : undefined
    if (code) return `${code}: ${LISTEN_ERRORS[code] ?? (typeof x.message === "string" && x.message !== "" ? x.message : "system error")}`
  }
  const message = e instanceof Error ? e.message : String(e)
  return message === "" ? "unknown error" : message
}

export async function main(argv: ReadonlyArray<string>): Promise<number> {
  let opts: CliOptions | "help" | "version"
  try {
    opts = parseArgs(argv)
  } catch (e) {
    process.stderr.write(`cairn-api: ${(e as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (opts === "version") {
    process.stdout.write(`cairn-api ${VERSION}\n`)
    return 0
  }
  if (opts === "help") {
    process.stdout.write(USAGE)
    return 0
  }
  let token = process.env.CAIRN_API_TOKEN || undefined
  let tokenSource = "CAIRN_API_TOKEN"
  if (opts.tokenFile) {
    tokenSource = `token file ${opts.tokenFile}`
    try {
      token = (await readFile(opts.tokenFile, "utf8")).trim()
    } catch (e) {
      process.stderr.write(`cairn-api: cannot read token file ${opts.tokenFile}: ${(e as Error).message}\n`)
      return 2
    }
    if (token === "") {
      process.stderr.write(`cairn-api: token file ${opts.tokenFile} is empty\n`)
      return 2
    }
  }
  if (token !== undefined && Buffer.byteLength(token, "utf8") < MIN_TOKEN_BYTES) {
    process.stderr.write(`cairn-api: the token from ${tokenSource} is ${Buffer.byteLength(token, "utf8")} bytes; use at least ${MIN_TOKEN_BYTES} (e.g. openssl rand -hex 32)\n`)
    return 2
  }
  const refused = refuseListen(opts.host, token !== undefined)
  if (refused) {
    process.stderr.write(`cairn-api: ${refused}\n`)
    return 2
  }
  let engine: Engine
  try {
    engine = await Engine.open(opts.root ? { root: opts.root } : {})
  } catch (e) {
    process.stderr.write(`cairn-api: cannot open the engine root${opts.root ? ` ${opts.root}` : ""}: ${(e as Error).message}\n`)
    return 1
  }
  const server = createServer(engine, {
    host: opts.host,
    port: opts.port,
    readOnly: opts.readOnly,
    ...(opts.shutdownTimeoutMs === undefined ? {} : { shutdownTimeoutMs: opts.shutdownTimeoutMs }),
    ...(opts.publicUrl === undefined ? {} : { publicUrl: opts.publicUrl }),
    ...(opts.mirror === undefined ? {} : { mirror: opts.mirror }),
    ...(token ? { token } : {})
  })
  let address: Awaited<ReturnType<typeof server.listen>>
  try {
    address = await server.listen()
  } catch (e) {
    process.stderr.write(`cairn-api: cannot listen on ${opts.host}:${opts.port}: ${listenFailure(e)}\n`)
    await engine.close()
    return 1
  }
  process.stdout.write(`cairn-api listening on ${address.url} (root ${engine.root}${opts.readOnly ? ", read-only" : ""}${opts.mirror ? `, mirror of ${opts.mirror.upstreams.join(", ")}` : ""}${token ? ", token required" : ""})\n`)
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"))
    process.once("SIGTERM", () => resolve("SIGTERM"))
  })
  process.stdout.write(`cairn-api: ${signal}, finishing in-flight requests\n`)
  await server.close()
  await engine.close()
  // a handle someone forgot must not keep a stopped service alive
  setTimeout(() => process.exit(0), 2000).unref()
  return 0
}
