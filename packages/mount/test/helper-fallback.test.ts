import { chmodSync, readFileSync, writeFileSync } from "node:fs"
import { delimiter, join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { listMounts, mount, mountAt } from "../src/index.js"
import { helperPid, helperStatus } from "../src/helper.js"
import { containerDirs, isRoot, noLeak, viaMountCall, writeTree } from "./fixtures.js"

// Its own file: a helper found broken stays off for the rest of the process (one test worker).
if (!isRoot) console.warn("[@cairn/mount] skipping mount(2) helper fallback tests: they need root")

describe.skipIf(!isRoot)("without a working helper the kernel driver uses mount(8)", () => {
  let [root, lower, upper, work, target] = ["", "", "", "", ""]
  let cleanup = () => {}
  const savedPath = process.env.PATH
  beforeEach(() => {
    ;({ root, cleanup, lower, upper, work, target } = containerDirs())
    writeTree(lower, { "etc/os-release": "base\n" })
  })
  afterEach(() => {
    process.env.PATH = savedPath
    cleanup()
  })

  it("says so when perl is not on PATH", async () => {
    process.env.PATH = join(root, "empty")
    await viaMountCall("mount(2) via helper", async () => {
      expect(helperStatus()).toMatchObject({ enabled: false, via: "mount(8)", reason: expect.stringMatching(/perl not found \(Debian package perl-base\)/) })
    })
  })

  it("falls back for good when perl cannot run the helper, and the mount still succeeds", async () => {
    // a "perl" that exits at once without answering, as a broken interpreter would
    const fake = join(root, "perl")
    writeFileSync(fake, "#!/bin/sh\necho 'cannot run the helper' >&2\nexit 3\n")
    chmodSync(fake, 0o755)
    process.env.PATH = `${root}${delimiter}${savedPath ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`
    await viaMountCall("mount(2) via helper", async () => {
      expect(helperStatus().enabled).toBe(true)
      await noLeak(async () => {
        const m = await mount({ lowers: [lower], upper, work, target }, { driver: "kernel" })
        expect(readFileSync(join(m.path, "etc/os-release"), "utf8")).toBe("base\n")
        await m.unmount()
        expect(mountAt(await listMounts(), target)).toBeUndefined()
      })
      expect(helperStatus()).toMatchObject({ enabled: false, via: "mount(8)", reason: expect.stringMatching(/helper failed \(exited with code 3: cannot run the helper\)/) })
      expect(helperPid()).toBeUndefined()
    })
  })
})
