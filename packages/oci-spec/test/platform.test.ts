import { describe, expect, it } from "vitest"
import {
  formatPlatform,
  hostPlatform,
  InvalidPlatformError,
  matchPlatform,
  NoMatchingPlatformError,
  normalizePlatform,
  parsePlatform,
  selectManifest
} from "../src/index.js"

interface Entry {
  digest: string
  platform?: { os: string; architecture: string; variant?: string }
}
const d = (platform: string): Entry => {
  const [os, architecture, variant] = platform.split("/") as [string, string, string?]
  return { digest: platform, platform: { os, architecture, ...(variant ? { variant } : {}) } }
}

describe("normalizePlatform", () => {
  const table: Array<[string, string, string | undefined, string]> = [
    ["linux", "x86_64", undefined, "linux/amd64"],
    ["linux", "x86-64", undefined, "linux/amd64"],
    ["linux", "amd64", "v1", "linux/amd64"],
    ["linux", "amd64", "v3", "linux/amd64/v3"],
    ["linux", "aarch64", undefined, "linux/arm64/v8"],
    ["linux", "arm64", undefined, "linux/arm64/v8"],
    ["linux", "arm64", "8", "linux/arm64/v8"],
    ["linux", "arm64", "v8.0", "linux/arm64/v8"],
    ["linux", "arm64", "v9", "linux/arm64/v9"],
    ["linux", "armhf", undefined, "linux/arm/v7"],
    ["linux", "armel", undefined, "linux/arm/v6"],
    ["linux", "arm", undefined, "linux/arm/v7"],
    ["linux", "arm", "6", "linux/arm/v6"],
    ["linux", "armv7l", undefined, "linux/arm/v7"],
    ["linux", "i386", undefined, "linux/386"],
    ["linux", "386", undefined, "linux/386"],
    ["Linux", "PPC64LE", undefined, "linux/ppc64le"],
    ["linux", "s390x", undefined, "linux/s390x"],
    ["macos", "arm64", undefined, "darwin/arm64/v8"]
  ]
  for (const [os, architecture, variant, expected] of table) {
    it(`normalizes ${os}/${architecture}${variant ? `/${variant}` : ""} to ${expected}`, () => {
      expect(formatPlatform(normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) }))).toBe(expected)
    })
  }
})

describe("parsePlatform", () => {
  it("parses os/arch/variant strings", () => {
    expect(parsePlatform("linux/arm64/v8")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" })
    expect(parsePlatform("linux/x86_64")).toEqual({ os: "linux", architecture: "amd64", variant: "" })
  })
  it("fills the host architecture for a lone OS", () => {
    const host = hostPlatform()
    expect(parsePlatform("linux").architecture).toBe(host.architecture)
  })
  it("rejects malformed platform strings", () => {
    for (const s of ["", "linux//v7", "a/b/c/d", "linux/arm 64"]) {
      expect(() => parsePlatform(s)).toThrow(InvalidPlatformError)
    }
    expect(() => parsePlatform("a/b/c/d")).toThrow('invalid platform "a/b/c/d": expected os/architecture[/variant]')
  })
})

describe("hostPlatform", () => {
  it("maps process.platform and process.arch to OCI names", () => {
    const host = hostPlatform()
    expect(host.os).toBe(process.platform === "win32" ? "windows" : process.platform)
    if (process.arch === "x64") expect(host.architecture).toBe("amd64")
    if (process.arch === "arm64") expect(host).toMatchObject({ architecture: "arm64", variant: "v8" })
  })
})

describe("matchPlatform", () => {
  it("matches aliases of the same platform", () => {
    expect(matchPlatform("linux/aarch64", { os: "linux", architecture: "arm64", variant: "v8" })).toBe(true)
    expect(matchPlatform("linux/arm64/v8", { os: "linux", architecture: "arm64" })).toBe(true)
    expect(matchPlatform({ os: "linux", architecture: "x86_64" }, "linux/amd64")).toBe(true)
  })
  it("does not match different variants, architectures or OSes", () => {
    expect(matchPlatform("linux/arm/v7", "linux/arm/v6")).toBe(false)
    expect(matchPlatform("linux/amd64", "linux/arm64")).toBe(false)
    expect(matchPlatform("linux/amd64", "windows/amd64")).toBe(false)
  })
  it("compares os.version only when both sides have one", () => {
    const w = { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" }
    expect(matchPlatform(w, { os: "windows", architecture: "amd64" })).toBe(true)
    expect(matchPlatform(w, { ...w, "os.version": "10.0.20348.1" })).toBe(false)
  })
})

describe("selectManifest", () => {
  const index = { manifests: [d("linux/ppc64le"), d("linux/arm/v6"), d("linux/arm/v7"), d("linux/amd64"), d("linux/arm64/v8")] }

  it("picks the exact match", () => {
    expect(selectManifest(index, "linux/arm/v7").digest).toBe("linux/arm/v7")
    expect(selectManifest(index, "linux/aarch64").digest).toBe("linux/arm64/v8")
    expect(selectManifest(index, { os: "linux", architecture: "x86_64" }).digest).toBe("linux/amd64")
  })
  it("falls back to the closest compatible platform", () => {
    expect(selectManifest({ manifests: [d("linux/arm/v6"), d("linux/arm/v7")] }, "linux/arm64").digest).toBe("linux/arm/v7")
    expect(selectManifest({ manifests: [d("linux/arm/v5"), d("linux/arm/v6")] }, "linux/arm/v7").digest).toBe("linux/arm/v6")
    expect(selectManifest({ manifests: [d("linux/386")] }, "linux/amd64").digest).toBe("linux/386")
    expect(selectManifest({ manifests: [d("linux/amd64"), d("linux/amd64/v2")] }, "linux/amd64/v3").digest).toBe("linux/amd64/v2")
  })
  it("prefers the earlier of two equal matches", () => {
    const twin = { manifests: [{ ...d("linux/amd64"), digest: "first" }, { ...d("linux/amd64"), digest: "second" }] }
    expect(selectManifest(twin, "linux/amd64").digest).toBe("first")
  })
  it("skips entries without a platform (e.g. attestations)", () => {
    expect(selectManifest({ manifests: [{ digest: "att" } as Entry, d("linux/amd64")] }, "linux/amd64").digest).toBe("linux/amd64")
  })
  it("uses the host platform by default", () => {
    const host = hostPlatform()
    const hostEntry = d(formatPlatform(host))
    expect(selectManifest({ manifests: [d("plan9/mips"), hostEntry] })).toBe(hostEntry)
  })
  it("fails with NoMatchingPlatformError listing what the index offers", () => {
    let err: unknown
    try {
      selectManifest({ manifests: [d("linux/ppc64le"), d("linux/arm64"), { digest: "x" } as Entry] }, "linux/arm/v7")
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(NoMatchingPlatformError)
    const e = err as NoMatchingPlatformError
    expect(e.available).toEqual(["linux/ppc64le", "linux/arm64/v8"])
    expect(e.message).toBe("no manifest for platform linux/arm/v7; the index offers linux/ppc64le, linux/arm64/v8")
  })
})
