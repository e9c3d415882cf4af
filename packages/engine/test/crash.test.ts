import { spawn } from "node:child_process"
import { readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildForChildren, buildLayout, mountinfoLines, tempDir } from "./fixtures.js"

// per chain; two chains each for import and commit run side by side: 4 x 8 = 32 kills by default
const rounds = process.env.CAIRN_STRESS === "1" ? 30 : 8

/** Starts the child, waits until its engine is open, lets it work a random while, SIGKILLs it. */
async function killMidway(root: string, op: string, source: string, maxMs: number): Promise<void> {
  const child = spawn(process.execPath, [join(import.meta.dirname, "crash-child.mjs"), root, op, source], { stdio: ["ignore", "pipe", "pipe"] })
  let err = ""
  child.stderr.on("data", (d) => {
    err += d
  })
  const exited = new Promise<void>((res) => child.on("exit", () => res()))
  await new Promise<void>((res, rej) => {
    child.stdout.once("data", () => res())
    child.once("exit", () => rej(new Error(`child exited before it was ready: ${err}`)))
  })
  await sleep(Math.random() * maxMs)
  child.kill("SIGKILL")
  await exited
  if (err !== "") throw new Error(`child failed on its own before the kill: ${err}`)
}

/** After a crash, a fresh open leaves the root consistent. */
async function expectConsistent(root: string): Promise<Engine> {
  const engine = await Engine.open({ root })
  const report = await engine.fsck()
  expect(report.problems).toEqual([])
  expect(report.store.ok).toBe(true)
  expect(readdirSync(join(root, "snapshots")).filter((n) => n.startsWith("."))).toEqual([])
  expect(readdirSync(join(root, "containers")).filter((n) => n.startsWith("."))).toEqual([])
  // every mount under the root is a container whose metadata says so: nothing stale
  const mounted = new Set((await engine.listContainers()).filter((c) => c.mounted).map((c) => c.id))
  for (const line of mountinfoLines(root)) {
    expect([...mounted].some((id) => line.includes(id))).toBe(true)
  }
  return engine
}

describe("crash safety: SIGKILL at random points", () => {
  let dir: string
  let skip: string | undefined
  beforeAll(() => {
    skip = buildForChildren()
    if (skip !== undefined) console.warn(`skipping crash tests: ${skip}`)
    dir = tempDir()
    for (let i = 0; i < 3; i++) {
      const files: Record<string, string> = {}
      for (let f = 0; f < 40; f++) files[`data/${i}/${f}.txt`] = `${i}-${f}\n`.repeat(100 * (f + 1))
      buildLayout(join(dir, "src"), `img${i}`, [{ files: { "etc/motd": "base\n" } }, { files }])
    }
  }, 300_000)
  afterAll(() => {
    expect(mountinfoLines(dir)).toEqual([])
    rmSync(dir, { recursive: true, force: true })
  })

  it("lets two processes extract the same chainIDs at once: both succeed, one snapshot each", async (ctx) => {
    if (skip !== undefined) ctx.skip()
    const root = join(dir, "race-root")
    // a racer that fails says why (its stderr goes into the assertion's message)
    const stderr: Array<string> = []
    const run = () =>
      new Promise<number>((res) => {
        const child = spawn(process.execPath, [join(import.meta.dirname, "crash-child.mjs"), root, "import-once", join(dir, "src")], { stdio: ["ignore", "ignore", "pipe"] })
        let err = ""
        child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d))
        child.on("close", (code) => {
          if (err !== "") stderr.push(err)
          res(code ?? -1)
        })
      })
    expect(await Promise.all([run(), run()]), stderr.join("\n")).toEqual([0, 0])
    const engine = await expectConsistent(root)
    const images = await engine.listImages()
    expect(images).toHaveLength(1) // one manifest, named by both racers
    expect(images[0]!.names).toHaveLength(2)
    expect(readdirSync(join(root, "snapshots")).sort()).toEqual((await engine.inspectImage(images[0]!.digest)).layers.map((l) => l.chainId.slice(7)).sort())
  }, 120_000)

  // the loops run side by side (separate roots): each round is mostly a child's start-up
  it(`leaves a consistent root after ${2 * rounds} kills during import/remove and ${2 * rounds} during mount/write/commit`, async (ctx) => {
    if (skip !== undefined) ctx.skip()
    await Promise.all([importLoop("a"), importLoop("b"), commitLoop("a"), commitLoop("b")])
  }, 900_000)

  async function importLoop(chain: string) {
    const root = join(dir, `import-root-${chain}`)
    for (let i = 0; i < rounds; i++) {
      await killMidway(root, "import", join(dir, "src"), 400)
      const engine = await expectConsistent(root)
      await engine.close()
    }
    // and the root still works
    const engine = await Engine.open({ root })
    const img = await engine.importImage(`oci:${join(dir, "src")}:img1`, "after")
    expect(img.layers).toBe(2)
  }

  async function commitLoop(chain: string) {
    const root = join(dir, `commit-root-${chain}`)
    const setup = await Engine.open({ root })
    await setup.importImage(`oci:${join(dir, "src")}:img0`, "base")
    const c = await setup.createContainer("base")
    for (let i = 0; i < rounds; i++) {
      await killMidway(root, "commit", join(dir, "src"), 600)
      const engine = await expectConsistent(root)
      for (const img of await engine.listImages()) {
        if (img.name?.startsWith("commit") === true) expect((await engine.history(img.digest))[0]?.createdBy).toBe("cairn commit")
      }
      await engine.close()
    }
    const engine = await Engine.open({ root })
    await engine.removeContainer(c.id, { force: true })
    expect((await engine.fsck()).ok).toBe(true)
  }
})
