// Debian's docker-registry on 127.0.0.1 as a mirror's upstream: a free port, a temp storage dir,
// the access log kept (to count what the mirror fetched), optional htpasswd auth.
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { connect, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"

export const REGISTRY_BIN = "/usr/bin/docker-registry"
export const haveRegistry = existsSync(REGISTRY_BIN)

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0))
    })
  })

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(port, "127.0.0.1")
    c.once("connect", () => {
      c.destroy()
      resolve(true)
    })
    c.once("error", () => resolve(false))
  })

export interface Upstream {
  readonly host: string
  /** access-log lines so far (one per request) */
  log(): string[]
  /** GETs of each blob digest, from the access log */
  blobGets(): Map<string, number>
  stop(): Promise<void>
}

export async function startUpstream(auth?: { user: string; password: string }): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), "cairn-api-upstream-"))
  const port = await freePort()
  let authConf = ""
  if (auth) {
    execFileSync("htpasswd", ["-Bbc", join(dir, "htpasswd"), auth.user, auth.password])
    authConf = `auth:\n  htpasswd:\n    realm: upstream\n    path: ${join(dir, "htpasswd")}\n`
  }
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n${authConf}`
  )
  const child: ChildProcess = spawn(REGISTRY_BIN, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "pipe", "pipe"] })
  let out = ""
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d))
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out += d))
  const exited = new Promise<void>((r) => child.once("exit", () => r()))
  const deadline = Date.now() + 20_000
  while (!(await listening(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`docker-registry did not start: ${out}`)
    await sleep(50)
  }
  const log = () => out.split("\n").filter((l) => /"(GET|HEAD|PUT|POST|PATCH|DELETE) \/v2/.test(l))
  return {
    host: `127.0.0.1:${port}`,
    log,
    blobGets: () => {
      const counts = new Map<string, number>()
      for (const l of log()) {
        const m = /"GET \/v2\/\S+\/blobs\/(sha256:[0-9a-f]{64}) HTTP\/[0-9.]+" (\d+)/.exec(l)
        if (m && m[2] !== "401") counts.set(m[1] as string, (counts.get(m[1] as string) ?? 0) + 1)
      }
      return counts
    },
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM")
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
