// Credentials from the Docker CLI config file: `auths`, `credHelpers` and `credsStore`
// (docker/cli cli/config/configfile), with helpers run as `docker-credential-<name> get`
// (docker-credential-helpers protocol: server URL on stdin, JSON on stdout).
import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { join } from "node:path"
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
  const file = join(dir, "config.json")
  return async (registry) => {
    let config: DockerConfigFile
    try {
      config = JSON.parse(await readFile(file, "utf8")) as DockerConfigFile
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
      throw new AuthError({ registry, reason: `cannot read ${file}: ${(e as Error).message}` })
    }
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
