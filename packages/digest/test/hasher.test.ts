import { createHash } from "node:crypto"
import { Readable, Writable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { describe, expect, it } from "vitest"
import {
  createHasher,
  type Digest,
  DigestMismatchError,
  digestBytes,
  digestReadable,
  hashingStream,
  nodeBackend,
  resumeHasher,
  SizeMismatchError,
  verifyingStream,
  wasmBackend
} from "../src/index.js"

// Published test vectors (FIPS 180-2 examples and the NIST "one million a" message).
const vectors = {
  sha256: {
    empty: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    abc: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    million: "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
  },
  sha512: {
    empty:
      "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    abc: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    million:
      "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
  }
} as const

const million = Buffer.alloc(1_000_000, "a")

describe.each([wasmBackend, nodeBackend])("$name backend", (backend) => {
  for (const alg of ["sha256", "sha512"] as const) {
    it(`${alg}: empty input, "abc" and one million "a"`, async () => {
      for (const [input, want] of [
        [Buffer.alloc(0), vectors[alg].empty],
        [Buffer.from("abc"), vectors[alg].abc],
        [million, vectors[alg].million]
      ] as const) {
        const h = await createHasher(alg, backend)
        h.update(input)
        expect(h.digest()).toBe(`${alg}:${want}`)
        expect(h.bytes).toBe(input.length)
      }
    })
  }

  it("gives the one-shot digest when fed in chunks split at awkward boundaries", async () => {
    const data = Buffer.alloc(3 * 65536 + 17)
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 8)) & 0xff
    const oneShot = createHash("sha256").update(data).digest("hex")
    // block size 64: split at 0, 1, 63, 64, 65, 127, prime strides and a 64 KiB edge
    for (const cuts of [[1], [63], [64], [65], [127, 128, 129], [65535, 65536, 65537], [7, 13, 1009, 4099]]) {
      const h = await createHasher("sha256", backend)
      let at = 0
      for (const c of [...cuts, data.length]) {
        h.update(data.subarray(at, c))
        at = c
      }
      expect(h.digest()).toBe(`sha256:${oneShot}`)
    }
  })
})

describe("streams", () => {
  it("digestBytes and digestReadable agree with the vectors", async () => {
    expect(await digestBytes("abc")).toBe(`sha256:${vectors.sha256.abc}`)
    expect(await digestBytes("abc", "sha512")).toBe(`sha512:${vectors.sha512.abc}`)
    const r = await digestReadable(Readable.from([million.subarray(0, 333_333), million.subarray(333_333)]))
    expect(r).toEqual({ digest: `sha256:${vectors.sha256.million}`, size: 1_000_000 })
  })

  it("hashingStream passes every byte through unchanged and hashes it", async () => {
    const h = await createHasher()
    const seen: Buffer[] = []
    await pipeline(
      Readable.from([Buffer.from("a"), Buffer.from("bc")]),
      hashingStream(h),
      new Writable({
        write: (c, _e, cb) => {
          seen.push(c)
          cb()
        }
      })
    )
    expect(Buffer.concat(seen).toString()).toBe("abc")
    expect(h.digest()).toBe(`sha256:${vectors.sha256.abc}`)
  })

  const sink = () => new Writable({ write: (_c, _e, cb) => cb() })

  it("verifyingStream passes matching content", async () => {
    const v = await verifyingStream({ digest: `sha256:${vectors.sha256.abc}`, size: 3 })
    await pipeline(Readable.from([Buffer.from("ab"), Buffer.from("c")]), v, sink())
    expect(v.hasher.bytes).toBe(3)
  })

  it("verifyingStream fails with DigestMismatchError naming expected, actual and bytes", async () => {
    const v = await verifyingStream({ digest: `sha256:${vectors.sha256.empty}` })
    const err = await pipeline(Readable.from([Buffer.from("abc")]), v, sink()).catch((e) => e)
    expect(err).toBeInstanceOf(DigestMismatchError)
    expect(err).toMatchObject({
      expected: `sha256:${vectors.sha256.empty}`,
      actual: `sha256:${vectors.sha256.abc}`,
      bytes: 3
    })
    expect(err.message).toMatch(/expected sha256:e3b0.*got sha256:ba78.*3 bytes/)
  })

  it("verifyingStream fails at the end when fewer bytes arrive than announced", async () => {
    const v = await verifyingStream({ digest: `sha256:${vectors.sha256.abc}`, size: 4 })
    const err = await pipeline(Readable.from([Buffer.from("abc")]), v, sink()).catch((e) => e)
    expect(err).toBeInstanceOf(SizeMismatchError)
    expect(err).toMatchObject({ expected: 4, actual: 3, early: false })
  })

  it("verifyingStream fails early, before the source ends, when more bytes arrive than announced", async () => {
    let produced = 0
    async function* endless() {
      for (;;) {
        produced++
        yield Buffer.alloc(1024)
      }
    }
    const v = await verifyingStream({ digest: `sha256:${vectors.sha256.abc}`, size: 3000 })
    const err = await pipeline(Readable.from(endless()), v, sink()).catch((e) => e)
    expect(err).toBeInstanceOf(SizeMismatchError)
    expect(err).toMatchObject({ expected: 3000, actual: 3072, early: true })
    expect(produced).toBeLessThan(64)
  })

  it("verifyingStream uses the digest's algorithm and rejects bad expected digests up front", async () => {
    const v = await verifyingStream({ digest: `sha512:${vectors.sha512.abc}` })
    await pipeline(Readable.from([Buffer.from("abc")]), v, sink())
    await expect(verifyingStream({ digest: "sha256:../../x" })).rejects.toThrow(/invalid digest/)
    await expect(verifyingStream({ digest: "md5:d41d8cd98f00b204e9800998ecf8427e" })).rejects.toThrow(/unsupported/)
  })

  it("resumes a WASM hash from a saved state", async () => {
    const data = Buffer.from("The quick brown fox jumps over the lazy dog, twice over.")
    const h1 = await createHasher("sha256", wasmBackend)
    h1.update(data.subarray(0, 21))
    const state = h1.save!()
    const h2 = await resumeHasher("sha256", state, h1.bytes)
    h2.update(data.subarray(21))
    expect(h2.bytes).toBe(data.length)
    expect(h2.digest()).toBe(`sha256:${createHash("sha256").update(data).digest("hex")}` as Digest)
  })
})
