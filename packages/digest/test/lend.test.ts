import { describe, expect, it } from "vitest"
import { giveBack, isLent, keep, lend, share } from "../src/index.js"

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

  it("shared among readers, are given back once every reader gave its view back", () => {
    let backs = 0
    const chunk = lend(Buffer.from("abc"), () => backs++)
    const [a, b] = share(chunk, 2)
    expect(a).not.toBe(b)
    expect(isLent(chunk)).toBe(false)
    expect(a!.buffer).toBe(chunk.buffer)
    expect(Buffer.from(a!).toString()).toBe("abc")
    giveBack(a!)
    giveBack(a!)
    expect(backs).toBe(0)
    giveBack(b!)
    expect(backs).toBe(1)
    // a chunk that was not lent is handed to every reader as it is
    const plain = Buffer.from("x")
    expect(share(plain, 2)).toEqual([plain, plain])
    expect(share(plain, 2)[1]).toBe(plain)
  })
})
