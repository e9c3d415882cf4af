import { describe, expect, it } from "vitest"
import { parseArgs } from "../src/main.js"
import { matchV2 } from "../src/distribution.js"
import { isRepositoryName, parseReference, splitRefName } from "../src/names.js"
import { isLoopbackAddress, isLoopbackHostHeader } from "../src/policy.js"
import { parseContentRange, parseRange } from "../src/range.js"
import { pathScrubber } from "../src/server.js"

describe("names", () => {
  it("accepts distribution-spec names and refuses anything that could be a path trick", () => {
    for (const ok of ["a", "library/busybox", "a.b/c_d/e__f", "x-y--z/0"]) expect(isRepositoryName(ok), ok).toBe(true)
    for (const bad of ["", "..", "a/../b", "%2e%2e", "A", "/a", "a/", "a//b", "a\u0000b", "-a", "a.", "x".repeat(256)]) {
      expect(isRepositoryName(bad), JSON.stringify(bad)).toBe(false)
    }
  })

  it("maps ref names to repository and tag at the last colon after the last slash", () => {
    expect(splitRefName("busybox:latest")).toEqual({ name: "busybox", tag: "latest" })
    expect(splitRefName("reg.io:5000/a/b:v1")).toBeUndefined() // a host with a port is not a repository name here
    expect(splitRefName("a/b:v1.2")).toEqual({ name: "a/b", tag: "v1.2" })
    expect(splitRefName("nocolon")).toBeUndefined()
  })

  it("parses a reference as a tag or a supported digest", () => {
    expect(parseReference("v1")).toEqual({ kind: "tag", tag: "v1" })
    expect(parseReference(`sha256:${"a".repeat(64)}`)?.kind).toBe("digest")
    expect(parseReference("sha256:../../etc")).toBeUndefined()
    expect(parseReference("md5:abc")).toBeUndefined()
  })

  it("rejects /v2 routes whose name is invalid before anything else", () => {
    expect(() => matchV2("/v2/../../etc/manifests/x")).toThrow(/NAME_INVALID/)
    expect(matchV2("/v2/a/b/blobs/uploads/")).toEqual({ kind: "uploads", name: "a/b" })
    expect(matchV2("/v2/a/manifests/x/y")).toBeUndefined()
  })
})

describe("ranges", () => {
  it("reads single byte ranges, suffixes and open ends, and flags ranges past the end", () => {
    expect(parseRange(undefined, 10)).toEqual({ kind: "full" })
    expect(parseRange("bytes=0-3", 10)).toEqual({ kind: "partial", start: 0, end: 3 })
    expect(parseRange("bytes=5-", 10)).toEqual({ kind: "partial", start: 5, end: 9 })
    expect(parseRange("bytes=-4", 10)).toEqual({ kind: "partial", start: 6, end: 9 })
    expect(parseRange("bytes=8-100", 10)).toEqual({ kind: "partial", start: 8, end: 9 })
    expect(parseRange("bytes=10-", 10)).toEqual({ kind: "unsatisfiable" })
    expect(parseRange("bytes=0-1,4-5", 10)).toEqual({ kind: "full" })
    expect(parseContentRange("0-99")).toEqual({ start: 0, end: 99 })
    expect(parseContentRange("9-3")).toBe("invalid")
  })
})

describe("cairn-api arguments", () => {
  it("parses the listen address, token file and read-only flag", () => {
    expect(parseArgs(["--root", "/r", "--listen", "0.0.0.0:8080", "--token-file", "/t", "--read-only"])).toEqual({
      root: "/r",
      host: "0.0.0.0",
      port: 8080,
      tokenFile: "/t",
      readOnly: true
    })
    expect(parseArgs(["--listen=[::1]:0"])).toMatchObject({ host: "::1", port: 0 })
    expect(() => parseArgs(["--listen", "nohost"])).toThrow(/HOST:PORT/)
    expect(() => parseArgs(["--bogus"])).toThrow(/unknown argument/)
  })

  it("takes repeatable --mirror upstreams with --mirror-ttl and --mirror-max-bytes", () => {
    expect(parseArgs(["--mirror", "reg.internal:5000", "--mirror=https://up.example/", "--mirror-ttl", "60", "--mirror-max-bytes", "1000"])).toMatchObject({
      mirror: { upstreams: ["reg.internal:5000", "up.example"], ttlMs: 60_000, maxBytes: 1000 }
    })
    expect(parseArgs([])).not.toHaveProperty("mirror")
    expect(() => parseArgs(["--mirror", "a b"])).toThrow(/HOST\[:PORT\]/)
    expect(() => parseArgs(["--mirror-ttl", "5"])).toThrow(/need --mirror/)
    expect(() => parseArgs(["--mirror", "r:1", "--mirror-max-bytes", "-1"])).toThrow(/positive/)
  })

  it("takes --public-url as an http(s) origin and path, nothing else", () => {
    expect(parseArgs(["--public-url", "https://reg.example:5443/"])).toMatchObject({ publicUrl: "https://reg.example:5443" })
    expect(() => parseArgs(["--public-url", "ftp://x"])).toThrow(/http/)
    expect(() => parseArgs(["--public-url", "https://x/?q=1"])).toThrow(/without query/)
  })
})

describe("request policy", () => {
  it("knows loopback addresses and Host values, and nothing that merely starts like one", () => {
    for (const ok of ["127.0.0.1", "127.255.1.2", "localhost", "::1", "[::1]", "::ffff:127.0.0.1", "LOCALHOST"]) expect(isLoopbackAddress(ok), ok).toBe(true)
    for (const bad of ["0.0.0.0", "::", "10.0.0.1", "127.0.0.1.evil.example", "localhost.evil", "128.0.0.1", "127.0.0.256"]) {
      expect(isLoopbackAddress(bad), bad).toBe(false)
    }
    for (const ok of ["127.0.0.1:5000", "localhost", "[::1]:1", "127.0.0.9"]) expect(isLoopbackHostHeader(ok), ok).toBe(true)
    for (const bad of [undefined, "", "evil.example:5000", "127.0.0.1:5000@evil", "::1", "[::1]x", "localhost:abc"]) {
      expect(isLoopbackHostHeader(bad), String(bad)).toBe(false)
    }
  })

  it("replaces server paths under the given prefixes in messages", () => {
    const scrub = pathScrubber(["/var/lib/cairn", "/tmp"])
    expect(scrub("importImage /var/lib/cairn failed: bad")).toBe("importImage <server path> failed: bad")
    expect(scrub("open '/tmp/cairn-api-x/image.tar': ENOENT")).toBe("open '<server path>': ENOENT")
    expect(scrub("image busybox:latest not found")).toBe("image busybox:latest not found")
  })
})
