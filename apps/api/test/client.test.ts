// The typed client (derived from the API's definition) drives a real cairn-api, with a token,
// through a whole image and container workflow: upload an archive, inspect, tag, create, mount,
// change, diff, commit, export, events, clean up; failures arrive as typed ApiFailures.
import { execFile } from "node:child_process"
import { readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CairnClient, fetchClient } from "../src/client.js"
import { ApiFailure } from "../src/definition.js"
import { buildImage, type EngineServer, exec, haveTools, startEngineServer } from "./engineFixture.js"
import { tempDir } from "./fixtures.js"

if (!haveTools) console.warn("skipping the typed client test: skopeo or umoci is not installed (apt-get install -y skopeo umoci)")
const isRoot = process.getuid?.() === 0
if (!isRoot) console.warn("skipping the typed client test: needs root (overlay mounts)")

const TOKEN = "client-test-token"
const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect)
const failure = async <A, E>(effect: Effect.Effect<A, E>): Promise<E> => Effect.runPromise(Effect.flip(effect))

describe.skipIf(!haveTools || !isRoot)("the typed API client against a real cairn-api", () => {
  let srv: EngineServer
  let work: string
  let archive: Buffer
  let manifestDigest: string
  let client: CairnClient
  beforeAll(async () => {
    work = await tempDir()
    const image = await buildImage(work)
    manifestDigest = image.manifestDigest
    await exec("skopeo", ["copy", `oci:${image.layout}:latest`, `oci-archive:${join(work, "image.tar")}`])
    archive = await readFile(join(work, "image.tar"))
    srv = await startEngineServer({ token: TOKEN })
    client = await run(fetchClient({ url: srv.url, token: TOKEN }))
  })
  afterAll(async () => {
    await srv?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("runs a whole image and container workflow", async () => {
    const version = await run(client.system.version())
    expect(version).toMatchObject({ name: "cairn-api", api: "v1", readOnly: false })

    // upload: the archive goes as a stream of chunks
    const chunks = Array.from({ length: Math.ceil(archive.length / 65536) }, (_, i) => archive.subarray(i * 65536, (i + 1) * 65536))
    const imported = await run(client.images.import({ query: { format: "oci-archive", name: "demo:1" }, payload: Stream.fromIterable(chunks) }))
    expect(imported.digest).toBe(manifestDigest)
    expect(imported.names).toContain("demo:1")
    expect((await run(client.images.list())).map((i) => i.digest)).toContain(manifestDigest)
    const inspected = await run(client.images.inspect({ params: { image: "demo:1" } }))
    expect(inspected.layers).toHaveLength(2)
    expect((await run(client.images.history({ params: { image: "demo:1" } }))).length).toBeGreaterThanOrEqual(2)
    await run(client.images.tag({ params: { image: "demo:1" }, payload: { name: "demo:2" } }))
    expect((await run(client.images.inspect({ params: { image: "demo:2" } }))).digest).toBe(manifestDigest)

    // the event stream is open once the call returns: the container created next is seen on it
    const events = await run(client.events.events())
    const lifecycle = Effect.runFork(events.pipe(Stream.filter((e) => e.event === "lifecycle"), Stream.take(1), Stream.runCollect))
    const c = await run(client.containers.create({ payload: { image: "demo:1", name: "c1" } }))
    expect(c).toMatchObject({ name: "c1", image: "demo:1", mounted: false })
    const [seen] = await run(Fiber.join(lifecycle))
    expect(seen?.data).toEqual({ type: "container.created", id: c.id, name: "c1" })

    const { mountpoint } = await run(client.containers.mount({ params: { id: "c1" } }))
    expect(await readFile(join(mountpoint, "data", "f1.txt"), "utf8")).toBe("second layer\n")
    await writeFile(join(mountpoint, "data", "new.txt"), "made through the client\n")
    expect(await run(client.containers.diff({ params: { id: "c1" } }))).toEqual(expect.arrayContaining([{ kind: "A", path: "/data/new.txt" }]))
    expect((await run(client.containers.list())).find((x) => x.id === c.id)?.mounted).toBe(true)

    const committed = await run(client.containers.commit({ params: { id: "c1" }, payload: { name: "demo:committed", message: "via the typed client" } }))
    expect(committed.layers).toBe(3)
    const history = await run(client.images.history({ params: { image: "demo:committed" } }))
    expect(history[0]?.comment).toBe("via the typed client")

    // download: the exported archive holds the committed image, as GNU tar and skopeo read it
    const exported = await run(client.images.export({ params: { image: "demo:committed" }, query: { format: "oci-archive" } }))
    const bytes = Buffer.concat(await run(Stream.runCollect(exported)))
    const out = join(work, "committed.tar")
    await writeFile(out, bytes)
    const { stdout } = await promisify(execFile)("skopeo", ["inspect", "--raw", `oci-archive:${out}`])
    expect((JSON.parse(stdout) as { layers: unknown[] }).layers).toHaveLength(3)

    await run(client.containers.unmount({ params: { id: "c1" } }))
    await run(client.containers.remove({ params: { id: "c1" }, query: {} }))
    const removed = await run(client.images.remove({ params: { image: "demo:committed" }, query: {} }))
    expect(removed.untagged).toContain("demo:committed")
    expect(removed.deleted).toContain(committed.digest)
    const gc = await run(client.store.gc({ payload: { dryRun: true } }))
    expect(gc.removed).not.toContain(manifestDigest)
    expect((await run(client.store.fsck())).ok).toBe(true)
    expect((await run(client.store.df())).images.map((i) => i.digest)).toEqual([manifestDigest])
  })

  it("fails with a typed ApiFailure carrying the service's code", async () => {
    const missing = await failure(client.images.inspect({ params: { image: "no-such:image" } }))
    expect(missing).toBeInstanceOf(ApiFailure)
    expect((missing as ApiFailure).code).toBe("ImageNotFoundError")
    const conflict = await failure(client.containers.unmount({ params: { id: "no-such-container" } }))
    expect((conflict as ApiFailure).code).toBe("ContainerNotFoundError")
    // a body the definition refuses is refused by the client before it is sent
    const bad = await failure(client.containers.create({ payload: { image: "" } }))
    expect(bad).not.toBeInstanceOf(ApiFailure)
    expect((bad as { _tag?: string })._tag).toBe("SchemaError")
    expect((await run(client.containers.list())).map((c) => c.name)).not.toContain("")
    const anonymous = await run(fetchClient({ url: srv.url }))
    expect(((await failure(anonymous.system.version())) as ApiFailure).code).toBe("UNAUTHORIZED")
    expect(await run(anonymous.system.health())).toEqual({ ok: true })
  })
})
