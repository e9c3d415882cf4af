import { describe, expect, it } from "vitest"
import { formatReference, InvalidReferenceError, isLoopbackRegistry, parseReference, registryHost } from "../src/index.js"

const D = `sha256:${"a".repeat(64)}`

describe("parseReference", () => {
  it("applies Docker Hub defaults to short names", () => {
    expect(parseReference("debian")).toEqual({ registry: "docker.io", repository: "library/debian", tag: "latest" })
    expect(parseReference("user/app:1.2")).toEqual({ registry: "docker.io", repository: "user/app", tag: "1.2" })
    expect(parseReference("index.docker.io/debian:12")).toEqual({ registry: "docker.io", repository: "library/debian", tag: "12" })
    expect(registryHost("docker.io")).toBe("registry-1.docker.io")
  })

  it("splits registry, port, repository, tag and digest", () => {
    expect(parseReference("127.0.0.1:5000/library/debian:latest")).toEqual({
      registry: "127.0.0.1:5000",
      repository: "library/debian",
      tag: "latest"
    })
    expect(parseReference(`localhost:5000/a/b/c@${D}`)).toEqual({ registry: "localhost:5000", repository: "a/b/c", digest: D })
    expect(parseReference(`ghcr.io/o/r:v1@${D}`)).toEqual({ registry: "ghcr.io", repository: "o/r", tag: "v1", digest: D })
    expect(parseReference("localhost/x")).toEqual({ registry: "localhost", repository: "x", tag: "latest" })
    expect(parseReference("[::1]:5000/x:t").registry).toBe("[::1]:5000")
  })

  it("round-trips through formatReference", () => {
    for (const s of ["quay.io/a/b:c", `r.example:443/x_y/z-w@${D}`, "docker.io/library/debian:12"]) {
      expect(formatReference(parseReference(s))).toBe(s)
    }
  })

  it("rejects names outside the distribution-spec grammar with the reason", () => {
    const cases: Array<[string, RegExp]> = [
      ["", /empty/],
      ["Registry.io/UPPER/x", /UPPER/],
      ["a//b", /empty path component/],
      ["a/b:", /tag ""/],
      ["a/b:-x", /tag "-x"/],
      [`a/b@sha256:${"a".repeat(63)}`, /bad digest/],
      ["a/b c", /whitespace/],
      ["a/-b", /"-b"/],
      [`x/${"a".repeat(260)}`, /longer than 255/],
      ["bad_host:5000/x", /registry "bad_host:5000"/]
    ]
    for (const [input, re] of cases) {
      let err: unknown
      try {
        parseReference(input)
      } catch (e) {
        err = e
      }
      expect(err, input).toBeInstanceOf(InvalidReferenceError)
      expect((err as Error).message, input).toMatch(re)
    }
  })

  it("treats only loopback addresses as implicitly plain-HTTP", () => {
    for (const r of ["127.0.0.1:5000", "127.3.2.1", "localhost:1", "[::1]:5000"]) expect(isLoopbackRegistry(r), r).toBe(true)
    for (const r of ["10.0.0.1:5000", "example.com", "127.0.0.1.nip.io", "docker.io"]) expect(isLoopbackRegistry(r), r).toBe(false)
  })
})
