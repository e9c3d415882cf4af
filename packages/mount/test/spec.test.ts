import { describe, expect, it } from "vitest"
import { InvalidSpecError, OptionsTooLongError, overlaySpec, planOverlayMount } from "../src/index.js"

const hex = (i: number) => i.toString(16).padStart(64, "0")

describe("overlaySpec", () => {
  it("normalizes paths and keeps the lower order", () => {
    const s = overlaySpec({ lowers: ["/l/a/", "/l//b"], upper: "/c/u", work: "/c/w", target: "/c/m/" })
    expect(s.lowers).toEqual(["/l/a", "/l/b"])
    expect(s.target).toBe("/c/m")
  })
  it.each([
    [{ lowers: [], target: "/m" }, "lowers"],
    [{ lowers: ["rel"], target: "/m" }, "lowers[0]"],
    [{ lowers: ["/a"], upper: "/u", target: "/m" }, "work"],
    [{ lowers: ["/a"], work: "/w", target: "/m" }, "upper"],
    [{ lowers: ["/a", "/a"], target: "/m" }, "lowers"],
    [{ lowers: ["/a"], upper: "/u", work: "/u", target: "/m" }, "work"],
    [{ lowers: ["/a"], target: "/m", options: { volatile: true } }, "options.volatile"],
    [{ lowers: ["/a"], upper: "/c/u", work: "/c/u/w", target: "/m" }, "work"],
    [{ lowers: ["/a"], upper: "/c/u", work: "/c/w", target: "/c/u" }, "target"],
    [{ lowers: ["/a", "/m"], target: "/m" }, "target"]
  ])("rejects a malformed spec with InvalidSpecError naming the field (%#)", (input, field) => {
    try {
      overlaySpec(input)
      expect.fail("accepted")
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidSpecError)
      expect((e as InvalidSpecError).field).toBe(field)
      expect((e as Error).message).toMatch(/invalid overlay spec/)
    }
  })
})

describe("planOverlayMount", () => {
  it("uses absolute paths and the kernel's option names when they fit", () => {
    const plan = planOverlayMount(overlaySpec({
      lowers: ["/s/b", "/s/a"], upper: "/c/u", work: "/c/w", target: "/c/m",
      options: { userxattr: true, redirectDir: "on", index: false, metacopy: true }
    }))
    expect(plan.strategy).toBe("absolute")
    expect(plan.data).toBe("lowerdir=/s/b:/s/a,upperdir=/c/u,workdir=/c/w,userxattr,redirect_dir=on,index=off,metacopy=on")
  })

  it("switches to paths relative to the common parent when absolute ones overflow the page", () => {
    const lowers = Array.from({ length: 60 }, (_, i) => `/var/lib/cairn/snapshots/${hex(i)}`)
    const plan = planOverlayMount(overlaySpec({ lowers, target: "/var/lib/cairn/containers/x/merged" }))
    expect(plan.strategy).toBe("relative")
    expect(plan.cwd).toBe("/var/lib/cairn/snapshots")
    expect(plan.data.startsWith(`lowerdir=${hex(0)}:${hex(1)}`)).toBe(true)
    expect(plan.data.length).toBeLessThan(4096)
  })

  it("fits 500 long lowers in one page with short links named by index", () => {
    const lowers = Array.from({ length: 500 }, (_, i) => `/var/lib/cairn/snapshots/${hex(i)}/fs`)
    const plan = planOverlayMount(overlaySpec({ lowers, upper: "/c/u", work: "/c/w", target: "/c/m" }))
    expect(plan.strategy).toBe("links")
    expect(plan.data.length).toBeLessThan(4096)
    expect(plan.links?.length).toBe(500)
    expect(plan.links?.[499]).toEqual({ name: (499).toString(36), target: lowers[499] })
    expect(plan.data.startsWith("lowerdir=0:1:2:")).toBe(true)
  })

  it("passes one lowerdir+= per layer instead of links where mount(8) and the kernel take it", () => {
    const lowers = Array.from({ length: 500 }, (_, i) => `/var/lib/cairn/snapshots/${hex(i)}/fs`)
    const plan = planOverlayMount(overlaySpec({ lowers, upper: "/c/u", work: "/c/w", target: "/c/m", options: { userxattr: true } }), { lowerdirPlus: true })
    expect(plan.strategy).toBe("lowerdir+")
    expect(plan.links).toBeUndefined()
    const parts = plan.data.split(",")
    expect(parts.slice(0, 2)).toEqual([`lowerdir+=${lowers[0]}`, `lowerdir+=${lowers[1]}`])
    expect(parts.slice(-3)).toEqual(["upperdir=/c/u", "workdir=/c/w", "userxattr"])
  })

  it("links paths whose characters the option parser would split", () => {
    const plan = planOverlayMount(overlaySpec({ lowers: ["/l/a,b", "/l/c:d"], upper: "/u,x", work: "/w", target: "/m" }))
    expect(plan.strategy).toBe("links")
    expect(plan.data).toBe("lowerdir=0:1,upperdir=u,workdir=/w")
    expect(plan.links).toContainEqual({ name: "u", target: "/u,x" })
  })

  it("bind-mounts a single lower read-only, which overlayfs refuses without upper", () => {
    expect(planOverlayMount(overlaySpec({ lowers: ["/l/a"], target: "/m" }))).toEqual({ target: "/m", data: "bind,ro", strategy: "bind", source: "/l/a" })
    expect(planOverlayMount(overlaySpec({ lowers: ["/l/a"], target: "/m" }), { bindSingleLower: false }).data).toBe("lowerdir=/l/a")
  })

  it("fails with OptionsTooLongError when even links overflow the page", () => {
    const lowers = Array.from({ length: 40 }, (_, i) => `/l/${hex(i)}`)
    expect(() => planOverlayMount(overlaySpec({ lowers, target: "/m" }), { pageSize: 64 })).toThrow(OptionsTooLongError)
  })
})
