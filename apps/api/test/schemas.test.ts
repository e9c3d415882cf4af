// The documented response schemas decode what a real engine returns (types, not only keys: the
// keys are held equal at compile time in schemas.ts), over an image and a mounted container.
import { rm } from "node:fs/promises"
import * as Schema from "effect/Schema"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as S from "../src/schemas.js"
import { buildImage, type EngineServer, haveTools, startEngineServer } from "./engineFixture.js"
import { tempDir } from "./fixtures.js"

if (!haveTools) console.warn("skipping the schema check against a real engine: needs skopeo and umoci")
const isRoot = process.getuid?.() === 0
if (!isRoot) console.warn("skipping the schema check against a real engine: needs root (overlay mounts)")

describe.skipIf(!haveTools || !isRoot)("response schemas against the engine's results", () => {
  let srv: EngineServer
  let dir: string
  beforeAll(async () => {
    dir = await tempDir()
    srv = await startEngineServer()
    const { layout } = await buildImage(dir)
    await srv.engine.importImage(`oci:${layout}:latest`, "img:1")
    const c = await srv.engine.createContainer("img:1", { name: "c1" })
    await srv.engine.mountContainer(c.id)
  })
  afterAll(async () => {
    await srv?.engine.removeContainer("c1", { force: true }).catch(() => {})
    await srv?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it("every documented shape decodes the engine's own answer, field by field", async () => {
    const e = srv.engine
    const decode = <A, I>(schema: Schema.Codec<A, I>, value: unknown) => Schema.decodeUnknownSync(schema as never, { onExcessProperty: "error" })(value)
    for (const img of await e.listImages()) decode(S.ImageSummary, img)
    decode(S.ImageInspect, await e.inspectImage("img:1"))
    for (const row of await e.history("img:1")) decode(S.HistoryRow, row)
    const containers = await e.listContainers()
    expect(containers.some((c) => c.mounted && c.driver !== undefined)).toBe(true)
    for (const c of containers) decode(S.ContainerSummary, c)
    decode(S.DiskUsage, await e.df())
    decode(S.PruneResult, await e.prune({ dryRun: true }))
    decode(S.FsckReport, await e.fsck())
  })
})
