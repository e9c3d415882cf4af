// Credentials from auth files: the Docker CLI config file and the containers auth.json that podman,
// skopeo and buildah read and write (containers-auth.json(5)) share one format: `auths`,
// `credHelpers` and `credsStore` (docker/cli cli/config/configfile), with helpers run as
// `docker-credential-<name> get` (docker-credential-helpers protocol: server URL on stdin, JSON on
// stdout). One reader serves both; `saveAuth`/`removeAuth` write the `auths` entries login/logout keep.
import { spawn } from "node:child_process"
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import type { CredentialStore, Credentials } from "./auth.js"
import { AuthError } from "./errors.js"
import { DOCKER_HUB } from "./reference.js"

/** Docker Hub's key in config files and helper stores, kept for compatibility with docker login. */
const DOCKER_HUB_SERVER = "https://index.docker.io/v1/"

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>
  credHelpers?: Record<string, string>
  credsStore?: string
}

export interface DockerConfigOptions {
  /** directory holding config.json (default: $DOCKER_CONFIG, else ~/.docker) */
  readonly configDir?: string
  /** environment for the lookup and for helpers (default process.env) */
  readonly env?: NodeJS.ProcessEnv
}

/** `https://index.docker.io/v1/`, `index.docker.io`, `http://host:5000/path` -> registry name as parsed from references. */
function normalizeKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "")
  return host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB : host
}

/**
 * A CredentialStore reading the Docker config file on each new registry (the Authenticator
 * caches per registry). A missing file means no credentials; a malformed one is an AuthError.
 */
export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialStore {
  const env = options.env ?? process.env
  const dir = options.configDir ?? env.DOCKER_CONFIG ?? join(homedir(), ".docker")
  return authFileCredentials([join(dir, "config.json")], { env })
}

export interface AuthFileOptions {
  /** an explicit auth file (`--authfile`); default $REGISTRY_AUTH_FILE, else the per-user file */
  readonly authFile?: string | undefined
  /** environment for the lookup and for helpers (default process.env) */
  readonly env?: NodeJS.ProcessEnv
}

/**
 * The auth file `login` writes and `logout` edits, as podman decides it (containers/image
 * pkg/docker/config getPathToAuth): `authFile`, else $REGISTRY_AUTH_FILE, else
 * $XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/<uid>/auth.json.
 */
export function containersAuthFile(options: AuthFileOptions = {}): string {
  const env = options.env ?? process.env
  if (options.authFile !== undefined && options.authFile !== "") return options.authFile
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "containers", "auth.json")
  return `/run/containers/${process.getuid?.() ?? 0}/auth.json`
}

/**
 * The files credentials are looked up in, first entry wins (containers/image getAuthFilePaths): an
 * explicit file (`authFile` or $REGISTRY_AUTH_FILE) alone; else `containersAuthFile()`, then
 * $XDG_CONFIG_HOME/containers/auth.json (~/.config), then $DOCKER_CONFIG/config.json (~/.docker).
 */
export function containersAuthFiles(options: AuthFileOptions = {}): string[] {
  const env = options.env ?? process.env
  const primary = containersAuthFile(options)
  if ((options.authFile !== undefined && options.authFile !== "") || env.REGISTRY_AUTH_FILE) return [primary]
  const home = homedir()
  return [
    primary,
    join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers", "auth.json"),
    join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json")
  ]
}

/** Credentials from podman's auth files (`containersAuthFiles`), the Docker config file among them. */
export function containersAuthCredentials(options: AuthFileOptions = {}): CredentialStore {
  return authFileCredentials(containersAuthFiles(options), options.env === undefined ? {} : { env: options.env })
}

async function readAuthFile(file: string, registry: string): Promise<DockerConfigFile | undefined> {
  let text: string
  try {
    text = await readFile(file, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw new AuthError({ registry, reason: `cannot read ${file}: ${(e as Error).message}` })
  }
  try {
    const config = JSON.parse(text) as unknown
    if (typeof config !== "object" || config === null || Array.isArray(config)) throw new Error("not a JSON object")
    return config as DockerConfigFile
  } catch (e) {
    throw new AuthError({ registry, reason: `${file} is not a valid auth file: ${(e as Error).message}` })
  }
}

/**
 * A CredentialStore over auth files in the Docker config / containers-auth.json format, looked up in
 * order (the first file with an entry or helper for the registry wins). Missing files are skipped;
 * a malformed one is an AuthError.
 */
export function authFileCredentials(files: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): CredentialStore {
  const env = options.env ?? process.env
  return async (registry) => {
    for (const file of files) {
      const config = await readAuthFile(file, registry)
      if (config === undefined) continue
      const found = await credentialsIn(config, file, registry, env)
      if (found !== undefined) return found
    }
    return undefined
  }
}

async function credentialsIn(config: DockerConfigFile, file: string, registry: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const server = registry === DOCKER_HUB ? DOCKER_HUB_SERVER : registry
  // credHelpers (per registry) win over credsStore (default helper), which wins over auths
  const helper =
    Object.entries(config.credHelpers ?? {}).find(([k]) => normalizeKey(k) === registry)?.[1] ?? config.credsStore
  if (helper !== undefined && helper !== "") {
    const fromHelper = await runCredentialHelper(helper, server, registry, env)
    if (fromHelper !== undefined) return fromHelper
  }
  const entry = Object.entries(config.auths ?? {}).find(([k]) => normalizeKey(k) === registry)?.[1]
  if (entry === undefined) return undefined
  let { username, password } = entry
  if (entry.auth !== undefined && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    if (colon < 0) throw new AuthError({ registry, reason: `the "auth" entry in ${file} is not base64 of user:password` })
    username = decoded.slice(0, colon)
    password = decoded.slice(colon + 1)
  }
  const creds: Credentials = {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(entry.identitytoken ? { identityToken: entry.identitytoken } : {})
  }
  return Object.keys(creds).length === 0 ? undefined : creds
}

/** Replaces the file whole (temp file + rename, mode 0600) so a reader never sees half of it. */
async function writeAuthFile(file: string, registry: string, config: DockerConfigFile): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    await writeFile(tmp, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 })
    await rename(tmp, file)
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw new AuthError({ registry, reason: `cannot write ${file}: ${(e as Error).message}` })
  }
}

/**
 * Stores `username:password` for `registry` in `file` as podman login does (`auths[registry].auth`,
 * base64), keeping every other entry and key of the file. Entries naming the same registry
 * another way (`https://host/v1/`) are replaced.
 */
export async function saveAuth(file: string, registry: string, creds: { readonly username: string; readonly password: string }): Promise<void> {
  const config = (await readAuthFile(file, registry)) ?? {}
  const auths = Object.fromEntries(Object.entries(config.auths ?? {}).filter(([k]) => normalizeKey(k) !== registry))
  auths[registry] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") }
  await writeAuthFile(file, registry, { ...config, auths })
}

/**
 * Removes the `auths` entries for `registry` (all of them when `registry` is undefined) from
 * `file`. Resolves to the keys removed; nothing is written when there were none.
 */
export async function removeAuth(file: string, registry: string | undefined): Promise<string[]> {
  const config = await readAuthFile(file, registry ?? "*")
  if (config === undefined) return []
  const entries = Object.entries(config.auths ?? {})
  const removed = entries.filter(([k]) => registry === undefined || normalizeKey(k) === registry).map(([k]) => k)
  if (removed.length > 0) {
    const auths = Object.fromEntries(entries.filter(([k]) => !removed.includes(k)))
    await writeAuthFile(file, registry ?? "*", { ...config, auths })
  }
  return removed
}

/** Runs `docker-credential-<name> get`; "not found" answers (exit != 0) mean no credentials. */
export function runCredentialHelper(
  name: string,
  server: string,
  registry: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`
  return new Promise((resolve, reject) => {
    const child = spawn(program, ["get"], { env, stdio: ["pipe", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d))
    child.on("error", (e) => reject(new AuthError({ registry, reason: `cannot run ${program}: ${e.message}` })))
    child.on("close", (code) => {
      if (code !== 0) {
        // the helper protocol reports a missing entry as an error "credentials not found in native keychain"
        if (/not found/i.test(out + err)) resolve(undefined)
        else reject(new AuthError({ registry, reason: `${program} get exited with ${code}: ${(err || out).trim().slice(0, 200)}` }))
        return
      }
      try {
        const j = JSON.parse(out) as { Username?: string; Secret?: string }
        if (!j.Secret) return resolve(undefined)
        // "<token>" as user name marks an identity (refresh) token (docker/cli credentials/native_store.go)
        resolve(j.Username === "<token>" ? { identityToken: j.Secret } : { username: j.Username ?? "", password: j.Secret })
      } catch {
        reject(new AuthError({ registry, reason: `${program} get printed something that is not JSON` }))
      }
    })
    // a helper may exit without reading its input (EPIPE): its exit status and output decide, above
    child.stdin.on("error", () => undefined)
    child.stdin.end(server)
  })
}
