import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { detect } from "@cairn/mount"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, busyboxLayer, disposeEngine, tempDir } from "./fixtures.js"

const report = await detect()
const usable = new Set(report.drivers.filter((d) => d.usable).map((d) => d.driver))
for (const d of report.drivers) if (!d.usable) console.warn(`skipping the ${d.driver} driver here: ${d.reasons.join("; ")}`)

describe("containers on every usable mount driver", () => {
  let dir: string
  let engine: Engine
  beforeAll(async () => {
    dir = tempDir()
    buildLayout(join(dir, "src"), "bb", [busyboxLayer, { files: { "etc/motd": "m\n" } }])
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "src")}:bb`)
  })
  afterAll(() => disposeEngine(engine, dir))

  for (const [driver, name] of [["overlay", "kernel"], ["rootless", "rootless"], ["fuse-overlayfs", "fuse"], ["copy", "copy"]] as const) {
    it.skipIf(!usable.has(name))(`${driver}: writes and a deletion land in the upper dir and commit as a layer`, async () => {
      const c = await engine.createContainer("bb")
      const mp = await engine.mountContainer(c.id, { driver })
      expect((await engine.listContainers()).find((x) => x.id === c.id)?.driver).toBe(name)
      writeFileSync(join(mp, "added.txt"), `${driver}\n`)
      unlinkSync(join(mp, "etc", "motd"))
      await engine.unmountContainer(c.id)
      expect(readFileSync(join(dir, "root", "containers", c.id, "upper", "added.txt"), "utf8")).toBe(`${driver}\n`)
      const diff = await engine.diffContainer(c.id)
      expect(diff).toEqual(expect.arrayContaining([{ kind: "A", path: "/added.txt" }, { kind: "D", path: "/etc/motd" }]))
      await engine.commitContainer(c.id, { name: `bb:${name}` })
      const out = join(dir, `unpacked-${name}`)
      await engine.unpack(`bb:${name}`, out)
      expect(readFileSync(join(out, "added.txt"), "utf8")).toBe(`${driver}\n`)
      expect(existsSync(join(out, "etc", "motd"))).toBe(false)
      await engine.removeContainer(c.id)
    })
  }

  it("reports drivers, the chosen one, root and versions in info", async () => {
    const info = await engine.info()
    expect(info.root).toBe(join(dir, "root"))
    expect(info.drivers.map((d) => d.driver)).toEqual(["kernel", "rootless", "fuse", "copy"])
    expect(info.chosenDriver).toBe([...usable][0])
    expect(info.versions["@cairn/engine"]).toMatch(/^\d+\.\d+\.\d+/)
  })
})
