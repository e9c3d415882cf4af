// Debian's docker-registry on 127.0.0.1 with a free port and a temp storage dir, for pull/push tests.
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer as createHttpServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http"
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

export async function startRegistry(): Promise<{ host: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "cairn-engine-registry-"))
  const port = await freePort()
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n`
  )
  const child: ChildProcess = spawn(REGISTRY_BIN, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const exited = new Promise<void>((r) => child.once("exit", () => r()))
  const deadline = Date.now() + 20_000
  while (!(await listening(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`docker-registry did not start: ${stderr}`)
    await sleep(50)
  }
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM")
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * A loopback proxy in front of `target` that forwards every request; `shape` may take over a
 * response (return true) to deliver its body its own way (slowly, or cut short).
 */
export async function startProxy(
  target: string,
  shape: (req: IncomingMessage, upstream: IncomingMessage, res: ServerResponse) => boolean
): Promise<{ host: string; close: () => Promise<void> }> {
  const server: Server = createHttpServer((req, res) => {
    const up = request(`http://${target}${req.url}`, { method: req.method, headers: req.headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers)
      if (!shape(req, ures, res)) ures.pipe(res)
    })
    up.on("error", () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
  const a = server.address()
  return {
    host: `127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      })
  }
}
