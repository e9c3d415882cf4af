import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { chainId, chainIds } from "../src/index.js"

const a = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
const b = "sha256:2a7c21b93d6fb33b69f4fad6e8b4ac50fe1f1ad7f0d1ff7fb7e2b9de4ea15a93"
const c = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

// sha256sum is an independent implementation of the same rule
const sha256sum = (s: string) => `sha256:${execFileSync("sha256sum", { input: s }).toString().slice(0, 64)}`

describe("chainId", () => {
  it("of one layer is its diffID", () => {
    expect(chainId([a])).toBe(a)
  })

  it("of a stack is sha256(parent chainID + ' ' + diffID), applied left to right", () => {
    const ab = sha256sum(`${a} ${b}`)
    expect(chainId([a, b])).toBe(ab)
    expect(chainId([a, b, c])).toBe(sha256sum(`${ab} ${c}`))
    expect(chainIds([a, b, c])).toEqual([a, ab, sha256sum(`${ab} ${c}`)])
  })

  it("depends on order", () => {
    expect(chainId([a, b])).not.toBe(chainId([b, a]))
  })

  it("rejects an empty stack and invalid diffIDs", () => {
    expect(() => chainId([])).toThrow(/at least one diffID/)
    expect(() => chainId([a, "sha256:nope"])).toThrow(/invalid digest/)
  })
})
