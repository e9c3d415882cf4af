// Starts Debian's docker-registry (the reference distribution server) on 127.0.0.1 with a free
// port, a temp storage dir and a generated config; optional htpasswd or token auth.
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { connect, createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const REGISTRY_BIN = "/usr/bin/docker-registry"
export const haveRegistry = existsSync(REGISTRY_BIN)
const which = (p: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${p}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}
export const haveHtpasswd = which("htpasswd")
export const haveSkopeo = which("skopeo")
export const haveOpenssl = which("openssl")

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      const port = typeof a === "object" && a !== null ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

export interface RunningRegistry {
  /** `127.0.0.1:<port>` */
  readonly host: string
  readonly port: number
  readonly dir: string
  stop(): Promise<void>
}

export interface RegistryAuthConfig {
  readonly htpasswd?: { readonly user: string; readonly password: string }
  readonly token?: { readonly realm: string; readonly service: string; readonly issuer: string; readonly certFile: string }
}

/** Serve TLS on `bind` (a non-loopback address: cairn speaks plain HTTP to loopback registries). */
export interface RegistryTlsConfig {
  readonly bind: string
  readonly certFile: string
  readonly keyFile: string
}

export async function startRegistry(auth: RegistryAuthConfig = {}, tls?: RegistryTlsConfig): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "cairn-registry-"))
  const port = await freePort()
  let authYaml = ""
  if (auth.htpasswd) {
    const line = execFileSync("htpasswd", ["-Bbn", auth.htpasswd.user, auth.htpasswd.password], { encoding: "utf8" }).trim()
    writeFileSync(join(dir, "htpasswd"), `${line}\n`)
    authYaml = `auth:\n  htpasswd:\n    realm: cairn-test\n    path: ${join(dir, "htpasswd")}\n`
  } else if (auth.token) {
    authYaml = `auth:\n  token:\n    realm: ${auth.token.realm}\n    service: ${auth.token.service}\n    issuer: ${auth.token.issuer}\n    rootcertbundle: ${auth.token.certFile}\n`
  }
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, "data")}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${tls?.bind ?? "127.0.0.1"}:${port}
${tls ? `  tls:\n    certificate: ${tls.certFile}\n    key: ${tls.keyFile}\n` : ""}${authYaml}`
  writeFileSync(join(dir, "config.yml"), config)
  const child: ChildProcess = spawn(REGISTRY_BIN, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const exited = new Promise<void>((r) => child.once("exit", () => r()))
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`)
    try {
      if (tls) {
        // listening is enough: the test decides whom to trust
        await new Promise<void>((resolve, reject) => connect(port, tls.bind, function (this: Socket) {
          this.destroy()
          resolve()
        }).on("error", reject))
        break
      }
      const res = await fetch(`http://127.0.0.1:${port}/v2/`)
      if (res.status === 200 || res.status === 401) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`docker-registry did not come up: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    host: `${tls?.bind ?? "127.0.0.1"}:${port}`,
    port,
    dir,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM")
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
        if (child.exitCode === null) child.kill("SIGKILL")
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
