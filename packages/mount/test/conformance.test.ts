import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync, unlinkSync } from "node:fs"
import { join } from "node:path"
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { DRIVER_NAMES, detect, DRIVERS, type DriverName, mountOverlay, type OverlaySpec } from "../src/index.js"
import { dirs, isWhiteout, noLeak, ourMounts, tempRoot, writeTree, xattr } from "./fixtures.js"

// One suite, every driver (containerd's snapshots/testsuite idea): the same behaviour or a skip with the reason.
const report = await detect()

const verdict = (name: DriverName) => report.drivers.find((d) => d.driver === name)

for (const name of DRIVER_NAMES) {
  const v = verdict(name)
  if (v?.usable !== true) console.warn(`[@cairn/mount] skipping the ${name} driver conformance tests: ${v?.reasons.join("; ")}`)
}

describe.each(DRIVER_NAMES)("driver %s", (name) => {
  const driver = DRIVERS[name]
  let root = ""
  let cleanup = () => {}
  beforeEach(() => {
    ;({ dir: root, cleanup } = tempRoot())
  })
  afterEach(() => cleanup())

  /** Two lowers (topmost first) in overlay form, a fresh upper/work/target. */
  const container = (suffix = "") => {
    const [upper, work, target] = dirs(root, `upper${suffix}`, `work${suffix}`, `merged${suffix}`) as [string, string, string]
    return { upper, work, target }
  }
  const imageLayers = () => {
    const [top, base] = dirs(root, "layers/top", "layers/base") as [string, string]
    writeTree(base, { "etc/os-release": "base\n", "etc/hosts": "127.0.0.1 base\n", "bin/sh": "#!sh\n", "var/cache/a": "a", "var/cache/b": "b" })
    writeTree(top, { "etc/os-release": "top\n", "app/main.js": "main\n" })
    return [top, base]
  }
  const spec = (lowers: Array<string>, c: { upper: string; work: string; target: string }): OverlaySpec => ({ lowers, ...c })

  /** Runs body on a mounted spec, unmounts, then checks nothing leaked. */
  const withMount = <A>(s: OverlaySpec, body: (path: string) => A) =>
    noLeak(async () => {
      const m = await Effect.runPromise(driver.mount(s))
      try {
        return body(m.path)
      } finally {
        await Effect.runPromise(m.unmount())
      }
    })

  describe.skipIf(verdict(name)?.usable !== true)("conformance", () => {
    it("shows the merged view, the topmost layer winning", async () => {
      const lowers = imageLayers()
      await withMount(spec(lowers, container()), (p) => {
        expect(readFileSync(join(p, "etc/os-release"), "utf8")).toBe("top\n")
        expect(readFileSync(join(p, "etc/hosts"), "utf8")).toBe("127.0.0.1 base\n")
        expect(readdirSync(p).sort()).toEqual(["app", "bin", "etc", "var"])
      })
    })

    it("copies a lower file up on write and leaves the lower untouched", async () => {
      const lowers = imageLayers()
      const c = container()
      await withMount(spec(lowers, c), (p) => {
        writeFileSync(join(p, "etc/hosts"), "10.0.0.1 changed\n", { flag: "a" })
        expect(readFileSync(join(p, "etc/hosts"), "utf8")).toBe("127.0.0.1 base\n10.0.0.1 changed\n")
      })
      expect(readFileSync(join(lowers[1] as string, "etc/hosts"), "utf8")).toBe("127.0.0.1 base\n")
      expect(readFileSync(join(c.upper, "etc/hosts"), "utf8")).toBe("127.0.0.1 base\n10.0.0.1 changed\n")
      expect(existsSync(join(c.upper, "bin/sh"))).toBe(false)
    })

    it("records a deletion as a whiteout in upper", async () => {
      const lowers = imageLayers()
      const c = container()
      await withMount(spec(lowers, c), (p) => {
        unlinkSync(join(p, "bin/sh"))
        expect(existsSync(join(p, "bin/sh"))).toBe(false)
      })
      expect(isWhiteout(join(c.upper, "bin/sh"))).toBe(true)
      expect(existsSync(join(lowers[1] as string, "bin/sh"))).toBe(true)
      // remounting the same upper keeps the file deleted
      await withMount(spec(lowers, c), (p) => {
        expect(existsSync(join(p, "bin/sh"))).toBe(false)
      })
    })

    it("records rm -r and recreate of a directory as an opaque directory", async () => {
      const lowers = imageLayers()
      const c = container()
      await withMount(spec(lowers, c), (p) => {
        rmSync(join(p, "var/cache"), { recursive: true })
        mkdirSync(join(p, "var/cache"))
        writeFileSync(join(p, "var/cache/new"), "n")
        expect(readdirSync(join(p, "var/cache"))).toEqual(["new"])
      })
      expect(xattr(join(c.upper, "var/cache"), "overlay.opaque")).toBe("y")
      expect(readFileSync(join(c.upper, "var/cache/new"), "utf8")).toBe("n")
      await withMount(spec(lowers, c), (p) => {
        expect(readdirSync(join(p, "var/cache"))).toEqual(["new"])
      })
    })

    it("keeps two containers on the same lowers apart", async () => {
      const lowers = imageLayers()
      const a = container("-a")
      const b = container("-b")
      await noLeak(async () => {
        const ma = await Effect.runPromise(driver.mount(spec(lowers, a)))
        const mb = await Effect.runPromise(driver.mount(spec(lowers, b)))
        try {
          writeFileSync(join(ma.path, "etc/os-release"), "a\n")
          unlinkSync(join(mb.path, "app/main.js"))
          writeFileSync(join(mb.path, "only-b"), "b")
          expect(readFileSync(join(mb.path, "etc/os-release"), "utf8")).toBe("top\n")
          expect(readFileSync(join(ma.path, "app/main.js"), "utf8")).toBe("main\n")
          expect(existsSync(join(ma.path, "only-b"))).toBe(false)
        } finally {
          await Effect.runPromise(ma.unmount())
          await Effect.runPromise(mb.unmount())
        }
      })
      expect(readdirSync(a.upper).sort()).toEqual(["etc"])
      expect(readdirSync(b.upper).sort()).toEqual(["app", "only-b"])
    })

    it("hides lower entries below whiteouts and opaque dirs of a higher layer", async () => {
      const [top, base] = dirs(root, "layers/top", "layers/base") as [string, string]
      writeTree(base, { "gone.txt": "x", "opq/old": "old", "keep/k": "k" })
      writeTree(top, { "opq/new": "new" })
      execFileSync("mknod", [join(top, "gone.txt"), "c", "0", "0"])
      // both namespaces: kernel overlay reads trusted.*, userxattr mounts read user.*
      for (const ns of ["trusted", "user"]) execFileSync("setfattr", ["-n", `${ns}.overlay.opaque`, "-v", "y", join(top, "opq")])
      await withMount(spec([top, base], container()), (p) => {
        expect(existsSync(join(p, "gone.txt"))).toBe(false)
        expect(readdirSync(join(p, "opq"))).toEqual(["new"])
        expect(readFileSync(join(p, "keep/k"), "utf8")).toBe("k")
      })
    })

    it("gives a read-only view without upper, also of a single layer", async () => {
      const lowers = imageLayers()
      for (const view of [lowers, lowers.slice(1)]) {
        const [target] = dirs(root, `view${view.length}`) as [string]
        await withMount({ lowers: view, target }, (p) => {
          expect(readFileSync(join(p, "etc/os-release"), "utf8")).toBe(view.length === 2 ? "top\n" : "base\n")
          // the copy driver shares inodes with the lowers (hardlinks) and cannot refuse writes
          if (name !== "copy") expect(() => writeFileSync(join(p, "etc/hosts"), "x")).toThrow(/EROFS|read-only/)
        })
      }
      expect(readFileSync(join(lowers[1] as string, "etc/hosts"), "utf8")).toBe("127.0.0.1 base\n")
    })

    it("mounts a stack of 200 layers and reads each of them", async () => {
      const lowers: Array<string> = []
      for (let i = 0; i < 200; i++) {
        const [l] = dirs(root, `layers/${i}`) as [string]
        writeFileSync(join(l, `f${i}`), `${i}`)
        writeFileSync(join(l, "shared"), `${i}`)
        lowers.push(l)
      }
      await withMount(spec(lowers, container()), (p) => {
        expect(readFileSync(join(p, "shared"), "utf8")).toBe("0")
        expect(readdirSync(p).length).toBe(201)
        for (const i of [0, 1, 99, 150, 199]) expect(readFileSync(join(p, `f${i}`), "utf8")).toBe(`${i}`)
      })
    })

    it("unmounts when the scope fails or is interrupted", async () => {
      const lowers = imageLayers()
      const c = container()
      await noLeak(async () => {
        let seen = ""
        const failing = Effect.scoped(
          Effect.gen(function*() {
            const m = yield* mountOverlay(spec(lowers, c), { driver: name })
            seen = readFileSync(join(m.path, "etc/os-release"), "utf8")
            return yield* Effect.fail("boom" as const)
          })
        )
        expect(await Effect.runPromise(Effect.flip(failing))).toBe("boom")
        expect(seen).toBe("top\n")
        expect(readdirSync(c.target)).toEqual([])

        let mounted = false
        const fiber = Effect.runFork(
          Effect.scoped(
            Effect.gen(function*() {
              yield* mountOverlay(spec(lowers, c), { driver: name })
              mounted = true
              return yield* Effect.never
            })
          )
        )
        while (!mounted) await new Promise((r) => setTimeout(r, 10))
        await Effect.runPromise(Fiber.interrupt(fiber))
        expect(readdirSync(c.target)).toEqual([])
      })
      expect(ourMounts().filter((m) => m.includes(c.target))).toEqual([])
    })
  })
})
