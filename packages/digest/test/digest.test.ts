import { describe, expect, it } from "vitest"
import {
  digestAlgorithm,
  digestHex,
  formatDigest,
  InvalidDigestError,
  isDigest,
  parseDigest,
  UnsupportedAlgorithmError
} from "../src/index.js"

const hex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

describe("parseDigest", () => {
  it("accepts sha256 with 64 lowercase hex and sha512 with 128", () => {
    expect(parseDigest(`sha256:${hex64}`)).toBe(`sha256:${hex64}`)
    const d512 = `sha512:${"ab".repeat(64)}`
    expect(parseDigest(d512)).toBe(d512)
    expect(digestAlgorithm(parseDigest(d512))).toBe("sha512")
    expect(digestHex(parseDigest(`sha256:${hex64}`))).toBe(hex64)
  })

  it.each([
    ["sha256:abc", /sha256 needs 64 lowercase hex characters, got 3/],
    [`sha256:${hex64.toUpperCase()}`, /uppercase hex is not allowed/],
    [`sha256:${hex64}0`, /got 65/],
    [`sha512:${hex64}`, /sha512 needs 128/],
    ["sha256", /no ":" found/],
    ["", /no ":" found/],
    [":abc", /algorithm part ""/],
    ["SHA256:abc", /algorithm part "SHA256"/],
    ["sha256:", /encoded part "" is empty/],
    ["sha256:../../x", /encoded part "..\/..\/x"/],
    [`sha256:${hex64.slice(0, 60)}/../`, /encoded part/],
    ["sha256:abc def", /encoded part/]
  ])("rejects %j with a reason naming the bad part", (input, reason) => {
    const err = (() => {
      try {
        parseDigest(input)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(InvalidDigestError)
    expect((err as InvalidDigestError).message).toMatch(reason)
    expect((err as InvalidDigestError).input).toBe(input)
    expect(isDigest(input)).toBe(false)
  })

  it("rejects non-strings", () => {
    expect(() => parseDigest(42)).toThrow(/expected a string, got number/)
    expect(() => parseDigest(undefined)).toThrow(InvalidDigestError)
  })

  it.each(["md5:d41d8cd98f00b204e9800998ecf8427e", "sha384:abc", "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "blake3:abcd"])(
    "calls a grammatical but unknown algorithm unsupported: %s",
    (input) => {
      expect(() => parseDigest(input)).toThrow(UnsupportedAlgorithmError)
      expect(() => parseDigest(input)).toThrow(/cairn verifies sha256 and sha512 only/)
    }
  )

  it("formatDigest validates what it builds", () => {
    expect(formatDigest("sha256", hex64)).toBe(`sha256:${hex64}`)
    expect(() => formatDigest("sha256", "zz")).toThrow(InvalidDigestError)
  })

  it("errors are tagged for Effect's catchTag", () => {
    try {
      parseDigest("nope")
    } catch (e) {
      expect((e as InvalidDigestError)._tag).toBe("InvalidDigestError")
      expect(e).toBeInstanceOf(Error)
    }
  })
})
