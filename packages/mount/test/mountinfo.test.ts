import { describe, expect, it } from "vitest"
import { listMounts, mountAt, mountsUnder, parseMountInfo } from "../src/index.js"

const SAMPLE = [
  "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro",
  "40 22 0:35 / /tmp/my\\040dir/merged rw,relatime shared:2 master:1 - overlay overlay rw,lowerdir=/l/a:/l/b,upperdir=/u,workdir=/w",
  "41 40 0:36 / /tmp/my\\040dir/merged/proc rw - proc proc rw",
  "42 22 0:37 /sub /tmp/back\\134slash\\011tab rw - tmpfs tmp\\040fs rw,size=1024k",
  "garbage line"
].join("\n")

describe("parseMountInfo", () => {
  const mounts = parseMountInfo(SAMPLE)

  it("decodes octal escapes in paths and sources", () => {
    expect(mounts.map((m) => m.mountPoint)).toEqual(["/", "/tmp/my dir/merged", "/tmp/my dir/merged/proc", "/tmp/back\\slash\ttab"])
    expect(mounts[3]?.source).toBe("tmp fs")
    expect(mounts[3]?.root).toBe("/sub")
  })

  it("separates optional fields, fs type and super options", () => {
    expect(mounts[1]).toMatchObject({
      id: 40, parentId: 22, major: 0, minor: 35, fsType: "overlay",
      optionalFields: ["shared:2", "master:1"],
      superOptions: ["rw", "lowerdir=/l/a:/l/b", "upperdir=/u", "workdir=/w"]
    })
    expect(mounts[0]?.optionalFields).toEqual(["shared:1"])
    expect(mounts[2]?.optionalFields).toEqual([])
  })

  it("lists mounts under a root deepest first, without siblings sharing a prefix", () => {
    const more = parseMountInfo(`${SAMPLE}\n43 22 0:38 / /tmp/my\\040dir2 rw - tmpfs t rw`)
    expect(mountsUnder(more, "/tmp/my dir").map((m) => m.id)).toEqual([41, 40])
    expect(mountAt(more, "/tmp/my dir/merged")?.id).toBe(40)
  })

  it("reads this process's real mount table", async () => {
    const live = await listMounts()
    expect(live.some((m) => m.mountPoint === "/")).toBe(true)
    expect(live.every((m) => Number.isInteger(m.id) && m.fsType.length > 0)).toBe(true)
  })
})
