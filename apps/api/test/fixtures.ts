// Test fixtures: a server over a temp root, raw HTTP for requests fetch would normalise, and a
// store-only engine for the /v2 tests (the registry endpoints need nothing but the store).
import { createHash, randomBytes } from "node:crypto"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import * as http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Store } from "@cairn/cas"
import type { ServedEngine } from "../src/engineApi.js"
import { type CairnServer, createServer, type ServerOptions } from "../src/server.js"

export const sha256 = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`

export const tempDir = (prefix = "cairn-api-test-") => mkdtemp(join(tmpdir(), prefix))

/** The files in the store's ingest area (partial blobs), without their locks. */
export const ingestEntries = async (root: string) => (await readdir(join(root, "ingest")).catch(() => [] as string[])).filter((n) => !n.endsWith(".lock"))

const notHere = (what: string) => () => Promise.reject(new Error(`${what}: not available in the store-only test engine`))

/** An engine that only has a store: what the /v2 endpoints need. */
export const storeOnlyEngine = async (root: string): Promise<ServedEngine> => {
  const store = await Store.open(root)
  return {
    root,
    store,
    on: () => () => {},
    importImage: notHere("importImage"),
    exportImage: notHere("exportImage"),
    listImages: notHere("listImages"),
    inspectImage: notHere("inspectImage"),
    history: notHere("history"),
    tag: notHere("tag"),
    removeImage: notHere("removeImage"),
    createContainer: notHere("createContainer"),
    listContainers: notHere("listContainers"),
    mountContainer: notHere("mountContainer"),
    unmountContainer: notHere("unmountContainer"),
    diffContainer: notHere("diffContainer"),
    commitContainer: notHere("commitContainer"),
    removeContainer: notHere("removeContainer"),
    df: notHere("df"),
    prune: notHere("prune"),
    fsck: notHere("fsck"),
    close: async () => {}
  }
}

export interface Running {
  readonly root: string
  readonly engine: ServedEngine
  readonly server: CairnServer
  readonly url: string
  readonly port: number
  stop(): Promise<void>
}

/** A server over `engine` (on `root`) on a free loopback port; stop() closes both and removes the root. */
export const serveEngine = async <E extends ServedEngine>(root: string, engine: E, options: ServerOptions = {}) => {
  const server = createServer(engine, options)
  const { url, port } = await server.listen()
  return {
    root,
    engine,
    server,
    url,
    port,
    stop: async () => {
      await server.close()
      await engine.close()
      await rm(root, { recursive: true, force: true })
    }
  }
}

export const startStoreServer = async (options: ServerOptions = {}): Promise<Running> => {
  const root = await tempDir()
  return serveEngine(root, await storeOnlyEngine(root), options)
}

export interface RawResponse {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
  // biome-ignore lint/suspicious/noExplicitAny: test bodies are checked field by field
  json(): any
}

/** A request with the path sent exactly as given (no `..` normalisation, no re-encoding). */
export const raw = (port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array | string): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on("data", (c: Buffer) => parts.push(c))
      res.on("end", () => {
        const b = Buffer.concat(parts)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b.toString("utf8")) })
      })
      res.on("error", reject)
    })
    req.on("error", reject)
    if (body !== undefined) req.end(body)
    else req.end()
  })

export const randomBlob = (n: number) => randomBytes(n)
