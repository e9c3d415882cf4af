// Registry credentials: `login` / `logout` keep the containers auth file podman and skopeo read
// (containers-auth.json(5)); pull, push and copy take --creds, --authfile and --tls-verify.
import type { Credentials, CredentialStore, RegistryClient } from "@cairn/registry"
import { command, type OptionSpec } from "../command.js"
import { UsageError } from "../errors.js"

// loaded when a command runs, not at start-up (`cairn --help` lists these commands)
const registryPkg = () => import("@cairn/registry")

type Opts = Readonly<Record<string, string | boolean | string[] | undefined>>

const authfileOpt: OptionSpec = {
  type: "string",
  value: "FILE",
  description: "auth file (default: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, as podman)"
}
const tlsVerifyOpt: OptionSpec = {
  type: "string",
  value: "BOOL",
  description: "--tls-verify=false: speak plain HTTP to the named registry (loopback registries always are)"
}

/** The options pull, push and copy share. */
export const registryOptions: Readonly<Record<string, OptionSpec>> = {
  creds: { type: "string", value: "USER:PASS", description: "credentials for the registry, instead of the auth file's" },
  authfile: authfileOpt,
  "tls-verify": tlsVerifyOpt,
  "registries-conf": { type: "string", value: "FILE", description: "mirrors and registry settings (registries.conf v2 subset; default <root>/registries.conf)" }
}

const str = (opts: Opts, name: string): string | undefined => (typeof opts[name] === "string" ? (opts[name] as string) : undefined)

function tlsVerify(opts: Opts): boolean {
  const v = str(opts, "tls-verify")
  if (v === undefined || v === "true") return true
  if (v === "false") return false
  throw new UsageError(`--tls-verify takes true or false, not ${JSON.stringify(v)}`)
}

/** `host:port` from `host:port`, `https://host:port/v2/` or a full reference's registry part. */
async function registryName(input: string): Promise<string> {
  const { parseReference } = await registryPkg()
  const host = input.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "")
  if (host === "") throw new UsageError(`${JSON.stringify(input)} names no registry; expected HOST[:PORT]`)
  if (host === "index.docker.io" || host === "registry-1.docker.io") return "docker.io"
  try {
    return parseReference(`${host}/x`).registry
  } catch {
    throw new UsageError(`${JSON.stringify(input)} is not a registry name; expected HOST[:PORT]`)
  }
}

/** The registry of a pull/push reference or a copy `docker://` location; undefined for other transports. */
async function registryOf(input: string, transport: boolean): Promise<string | undefined> {
  if (transport && !input.startsWith("docker://")) return undefined
  const { parseReference } = await registryPkg()
  try {
    return parseReference(input.replace(/^docker:\/\//, "")).registry
  } catch {
    return undefined // the engine reports the bad reference
  }
}

/**
 * The registry client for pull/push/copy: credentials from --creds for the registries the command
 * names, else from the auth files (podman's order); plain HTTP to them with --tls-verify=false.
 */
export async function registryClient(opts: Opts, refs: readonly string[], transport = false, root?: string): Promise<RegistryClient> {
  const { containersAuthCredentials, RegistryClient } = await registryPkg()
  const named = (await Promise.all(refs.map((r) => registryOf(r, transport)))).filter((r): r is string => r !== undefined)
  const fromFiles = containersAuthCredentials({ authFile: str(opts, "authfile") })
  const creds = str(opts, "creds")
  let credentials: CredentialStore = fromFiles
  if (creds !== undefined) {
    const colon = creds.indexOf(":")
    if (colon <= 0) throw new UsageError("--creds takes USER:PASS (cairn does not prompt; `cairn login` stores a password)")
    const given: Credentials = { username: creds.slice(0, colon), password: creds.slice(colon + 1) }
    credentials = async (registry) => (named.includes(registry) ? given : fromFiles(registry))
  }
  const { defaultRoot, engineRegistries } = await import("@cairn/engine")
  const registries = engineRegistries(root ?? defaultRoot(), str(opts, "registries-conf"))
  return new RegistryClient({ credentials, plainHttp: tlsVerify(opts) ? false : named, registries })
}

/**
 * Runs a registry operation; a TLS failure on an HTTPS URL (EPROTO: the server speaks plain HTTP,
 * or a certificate problem) gets a pointer to --tls-verify=false.
 */
export async function withTlsHint<A>(opts: Opts, f: () => Promise<A>): Promise<A> {
  try {
    return await f()
  } catch (e) {
    const { TransportError } = await registryPkg()
    if (e instanceof TransportError && e.url.startsWith("https://") && tlsVerify(opts) && /EPROTO|SSL|TLS|certificate|CERT_/i.test(e.reason)) {
      throw new Error(`${e.message}; if the registry speaks plain HTTP, add --tls-verify=false`, { cause: e })
    }
    throw e
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(Buffer.from(c as Uint8Array))
  return Buffer.concat(chunks).toString("utf8")
}

export const login = command({
  name: "login",
  summary: "Log in to a registry: check the credentials, then save them in the auth file podman and skopeo read",
  usage: "REGISTRY",
  description:
    "The credentials are verified against the registry (GET /v2/) before anything is written. The auth file is\n" +
    "--authfile, else $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/UID/auth.json;\n" +
    "pull, push and copy read it (and ~/.config/containers/auth.json, ~/.docker/config.json after it).",
  examples: [
    "printf '%s' \"$PASS\" | cairn login -u alice --password-stdin registry.example:5000",
    "cairn login -u alice -p s3cret --authfile ./auth.json 127.0.0.1:5000"
  ],
  options: {
    username: { type: "string", short: "u", value: "USER", description: "user name (required)" },
    password: { type: "string", short: "p", value: "PASS", description: "password (visible in the process list; prefer --password-stdin)" },
    "password-stdin": { type: "boolean", description: "read the password from stdin (one trailing newline is dropped)" },
    authfile: authfileOpt,
    "tls-verify": tlsVerifyOpt
  },
  args: { min: 1, max: 1 },
  async run(ctx, [input], opts) {
    const { containersAuthFile, RegistryClient, saveAuth } = await registryPkg()
    const registry = await registryName(input!)
    const username = str(opts, "username")
    if (username === undefined || username === "") throw new UsageError("give the user name with -u USER")
    let password = str(opts, "password")
    if (opts["password-stdin"]) {
      if (password !== undefined) throw new UsageError("-p and --password-stdin exclude each other")
      password = (await readStdin()).replace(/\r?\n$/, "")
    }
    if (password === undefined || password === "") throw new UsageError("give the password with --password-stdin or -p PASS")
    const client = new RegistryClient({
      credentials: async (r) => (r === registry ? { username, password } : undefined),
      plainHttp: tlsVerify(opts) ? false : [registry]
    })
    try {
      await withTlsHint(opts, () => client.checkAuth(registry))
    } finally {
      client.close()
    }
    const file = containersAuthFile({ authFile: str(opts, "authfile") })
    await saveAuth(file, registry, { username, password })
    ctx.out.result({ registry, authfile: file }, () => "Login Succeeded!")
  }
})

export const logout = command({
  name: "logout",
  summary: "Remove a registry's saved credentials from the auth file",
  usage: "REGISTRY",
  examples: ["cairn logout registry.example:5000", "cairn logout --all"],
  options: {
    all: { type: "boolean", short: "a", description: "remove the credentials of every registry" },
    authfile: authfileOpt
  },
  args: { min: 0, max: 1 },
  async run(ctx, [input], opts) {
    const all = Boolean(opts["all"])
    if (all === (input !== undefined)) throw new UsageError("give a REGISTRY or --all")
    const { containersAuthFile, removeAuth } = await registryPkg()
    const registry = input === undefined ? undefined : await registryName(input)
    const file = containersAuthFile({ authFile: str(opts, "authfile") })
    const removed = await removeAuth(file, registry)
    if (registry !== undefined && removed.length === 0) throw new Error(`not logged in to ${registry}: ${file} has no entry for it`)
    ctx.out.result({ registry: registry ?? null, authfile: file, removed }, () =>
      registry === undefined ? "Removed login credentials for all registries" : `Removed login credentials for ${registry}`
    )
  }
})
