// A throwaway local registry (Debian's docker-registry, the reference distribution server)
// on 127.0.0.1, with the corpus pushed into it by skopeo, for the pull benchmark.
import { execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { join } from "node:path"
import { promisify } from "node:util"
import { processUsage } from "./containerd.mjs"

const exec = promisify(execFile)
export const REGISTRY_BIN = "/usr/bin/docker-registry"

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.on("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address()
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0))
    })
  })

/**
 * Starts the registry in `dir`; resolves once /v2/ answers.
 * @param {string} dir
 * @returns {Promise<{ host: string, usage: () => { userS: number, sysS: number }, stop: () => Promise<void> }>}
 */
export async function startRegistry(dir) {
  if (!existsSync(REGISTRY_BIN)) throw new Error(`${REGISTRY_BIN} is not installed (Debian package docker-registry)`)
  await mkdir(join(dir, "data"), { recursive: true })
  const port = await freePort()
  const config = join(dir, "config.yml")
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`
  )
  const child = spawn(REGISTRY_BIN, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr.on("data", (c) => (stderr = (stderr + c).slice(-2000)))
  const host = `127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false)
    if (ok) break
    if (i > 100 || child.exitCode !== null) {
      child.kill()
      throw new Error(`docker-registry did not start: ${stderr.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    host,
    // its CPU so far: what serving a pull costs the machine beside the client (the bound arithmetic counts it)
    usage: () => processUsage(/** @type {number} */ (child.pid)),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.on("close", () => resolve())
        child.kill("SIGTERM")
      })
  }
}

/** Pushes `oci:tag` to `host/bench/<tag>:latest` with skopeo. */
export async function pushImage(host, oci, tag) {
  await exec("skopeo", ["copy", "--quiet", "--dest-tls-verify=false", `oci:${oci}:${tag}`, `docker://${host}/bench/${tag}:latest`], { maxBuffer: 1 << 24 })
  return `${host}/bench/${tag}:latest`
}
