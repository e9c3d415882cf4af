// A real engine over a temp root behind a live server, and an umoci-built image as archives.
import { execFile } from "node:child_process"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"
import { Engine } from "@cairn/engine"
import type { CairnServer, ServerOptions } from "../src/server.js"
import { serveEngine, tempDir } from "./fixtures.js"

const execAsync = promisify(execFile)
/**
 * A tool run by a test: killed (SIGKILL) if it runs past `timeout`, so a hung child fails its
 * test and does not outlive the test run (a hung `cairn pull` once kept running after vitest exited).
 */
export const exec = (file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number; maxBuffer?: number } = {}) =>
  execAsync(file, args, { timeout: 110_000, killSignal: "SIGKILL", maxBuffer: 64 << 20, ...options })
const have = async (cmd: string) => exec(cmd, ["--version"]).then(() => true, () => false)
export const haveTools = (await have("skopeo")) && (await have("umoci"))

/** A two-layer image built with umoci, in an OCI layout at `dir`, tag `latest`. */
export const buildImage = async (dir: string): Promise<{ layout: string; manifestDigest: string }> => {
  const layout = join(dir, "layout")
  const bundle = join(dir, "bundle")
  await exec("umoci", ["init", "--layout", layout])
  await exec("umoci", ["new", "--image", `${layout}:latest`])
  for (const [i, text] of ["first layer\n", "second layer\n"].entries()) {
    await exec("umoci", ["unpack", "--image", `${layout}:latest`, bundle])
    await mkdir(join(bundle, "rootfs", "data"), { recursive: true })
    await writeFile(join(bundle, "rootfs", "data", `f${i}.txt`), text)
    await exec("umoci", ["repack", "--image", `${layout}:latest`, bundle])
    await rm(bundle, { recursive: true, force: true })
  }
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> }
  return { layout, manifestDigest: index.manifests[0]?.digest as string }
}

export interface EngineServer {
  readonly root: string
  readonly engine: Engine
  readonly server: CairnServer
  readonly url: string
  readonly port: number
  stop(): Promise<void>
}

export const startEngineServer = async (options: ServerOptions = {}): Promise<EngineServer> => {
  const root = await tempDir("cairn-api-engine-")
  return serveEngine(root, await Engine.open({ root }), options)
}
