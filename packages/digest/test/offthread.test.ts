import { createHash, randomBytes } from "node:crypto"
import { describe, expect, it } from "vitest"
import { createHasher, nodeBackend, OffThreadHasher, resumeHasher, wasmBackend } from "../src/index.js"

const sha = (alg: string, b: Uint8Array) => `${alg}:${createHash(alg).update(b).digest("hex")}`

describe("OffThreadHasher", () => {
  it("gives the same digest as hashing on the calling thread, through several turns of its ring, on both backends", async () => {
    // 20 MiB in uneven chunks: five turns of the 4 MiB ring, pieces split at its end
    const data = randomBytes(20 << 20)
    for (const backend of [wasmBackend, nodeBackend]) {
      const h = await OffThreadHasher.start("sha256", backend)
      try {
        for (let off = 0; off < data.length; off += 3 << 19) await h.update(data.subarray(off, off + (3 << 19)))
        expect(h.bytes).toBe(data.length)
        expect(await h.digest()).toBe(sha("sha256", data))
      } finally {
        await h.close()
      }
    }
    const h512 = await OffThreadHasher.start("sha512")
    await h512.update(data.subarray(0, 1000))
    expect(await h512.digest()).toBe(sha("sha512", data.subarray(0, 1000)))
    await h512.close()
  })

  it("lets the caller reuse a chunk's buffer once update resolves", async () => {
    const buf = Buffer.alloc(1 << 20)
    const h = await OffThreadHasher.start("sha256")
    const expected = createHash("sha256")
    for (let i = 0; i < 12; i++) {
      buf.fill(i)
      expected.update(buf)
      await h.update(buf)
    }
    expect(await h.digest()).toBe(`sha256:${expected.digest("hex")}`)
    await h.close()
  })

  it("saves a state that resumes on the calling thread or on another worker", async () => {
    const data = randomBytes(3 << 20)
    const cut = 1234567
    const first = await OffThreadHasher.start("sha256")
    await first.update(data.subarray(0, cut))
    const state = await first.save()
    await first.close()
    expect(state).toBeInstanceOf(Uint8Array)
    const onThread = await resumeHasher("sha256", state!, cut)
    onThread.update(data.subarray(cut))
    expect(onThread.digest()).toBe(sha("sha256", data))
    const offThread = await OffThreadHasher.start("sha256", wasmBackend, { state: state!, bytes: cut })
    await offThread.update(data.subarray(cut))
    expect(offThread.bytes).toBe(data.length)
    expect(await offThread.digest()).toBe(sha("sha256", data))
    await offThread.close()
    // node:crypto has no exportable state
    const n = await OffThreadHasher.start("sha256", nodeBackend)
    expect(await n.save()).toBeUndefined()
    await n.close()
    await expect(OffThreadHasher.start("sha256", nodeBackend, { state: state!, bytes: cut })).rejects.toThrow(/only a WASM backend/)
    // and a state saved on the calling thread resumes off it
    const local = await createHasher("sha256", wasmBackend)
    local.update(data.subarray(0, cut))
    const fromLocal = await OffThreadHasher.start("sha256", wasmBackend, { state: local.save!(), bytes: cut })
    await fromLocal.update(data.subarray(cut))
    expect(await fromLocal.digest()).toBe(sha("sha256", data))
    await fromLocal.close()
  })

  it("fails updates and pending answers once closed, instead of hanging", async () => {
    const h = await OffThreadHasher.start("sha256")
    await h.update(Buffer.alloc(1024))
    await h.close()
    await expect(h.update(Buffer.alloc(1))).rejects.toThrow(/closed/)
    await expect(h.digest()).rejects.toThrow(/closed/)
  })
})
