import { describe, expect, it } from "vitest"
import { giveBack, isLent, keep, lend } from "../src/index.js"

describe("lent chunks", () => {
  it("are given back once, by whoever holds them last; kept or unlent chunks never are", () => {
    const backs: string[] = []
    const a = lend(Buffer.from("a"), () => backs.push("a"))
    const b = lend(Buffer.from("b"), () => backs.push("b"))
    expect(isLent(a)).toBe(true)
    giveBack(a)
    giveBack(a)
    expect(backs).toEqual(["a"])
    expect(isLent(a)).toBe(false)
    // a tee keeps the chunk it hands to two readers: neither can give it back
    expect(keep(b)).toBe(b)
    giveBack(b)
    expect(backs).toEqual(["a"])
    // a view of a lent chunk is another chunk: not lent
    const c = lend(Buffer.from("cc"), () => backs.push("c"))
    giveBack(c.subarray(1))
    giveBack(Buffer.from("plain"))
    expect(backs).toEqual(["a"])
    giveBack(c)
    expect(backs).toEqual(["a", "c"])
  })
})
