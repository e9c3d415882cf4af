import { createHash, randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { createSHA256 } from "hash-wasm"
import { describe, expect, it } from "vitest"
import { Sha256, sha256ModuleBytes } from "../worker/sha256-kernel.mjs"
import {
  backendFromName,
  createHasher,
  defaultBackend,
  hashWasmBackend,
  kernelSelfTest,
  nodeBackend,
  OffThreadHasher,
  offThreadHashStats,
  resetOffThreadHashStats,
  resumeHasher,
  setDefaultHasher,
  wasmBackend
} from "../src/index.js"

const openssl = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`

/** Deterministic random split points: many updates of 0..200 bytes, some larger. */
function splits(len: number, seed: number): number[] {
  const cuts: number[] = []
  let x = seed
  for (let at = 0; at < len; ) {
    x = (x * 1103515245 + 12345) >>> 0
    const n = x % 7 === 0 ? x % 5000 : x % 201
    cuts.push(Math.min(len, at + n))
    at += n
  }
  return cuts
}

describe("cairn's sha256 kernel", () => {
  it("is valid WebAssembly and the emitter is deterministic", () => {
    const bytes = sha256ModuleBytes()
    const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly
    expect(wasm.validate(bytes)).toBe(true)
    expect(Buffer.from(sha256ModuleBytes()).equals(Buffer.from(bytes))).toBe(true)
  })

  it("every length 0..130 and 55/56/63/64/65-byte edges give OpenSSL's digest on every hasher", async () => {
    const data = randomBytes(4200)
    const lengths = [...Array.from({ length: 131 }, (_, i) => i), 183, 184, 191, 192, 193, 4095, 4096, 4097, 4200]
    for (const len of lengths) {
      const b = data.subarray(0, len)
      for (const backend of [wasmBackend, hashWasmBackend, nodeBackend]) {
        const h = await createHasher("sha256", backend)
        h.update(b)
        expect(h.digest(), `${backend.name} ${len}`).toBe(openssl(b))
      }
    }
  })

  it("random update splits (incl. every split of a 130-byte input) match OpenSSL", async () => {
    const small = randomBytes(130)
    for (let cut = 0; cut <= 130; cut++) {
      const h = await createHasher("sha256", wasmBackend)
      h.update(small.subarray(0, cut))
      h.update(small.subarray(cut))
      expect(h.digest()).toBe(openssl(small))
    }
    for (let seed = 1; seed <= 40; seed++) {
      const data = randomBytes((seed * 7919) % 70000)
      const h = await createHasher("sha256", wasmBackend)
      const hw = await createSHA256()
      hw.init()
      let at = 0
      for (const cut of splits(data.length, seed)) {
        h.update(data.subarray(at, cut))
        hw.update(data.subarray(at, cut))
        at = cut
      }
      expect(h.bytes).toBe(data.length)
      expect(h.digest()).toBe(openssl(data))
      expect(`sha256:${hw.digest("hex")}`).toBe(openssl(data))
    }
  })

  it("hashes more than its 1 MiB data area in one update, and big random lengths", async () => {
    for (const len of [(1 << 20) - 1, 1 << 20, (1 << 20) + 65, 3_333_333]) {
      const data = randomBytes(len)
      const h = new Sha256()
      h.update(data)
      expect(`sha256:${h.hex()}`).toBe(openssl(data))
    }
  })

  it("saves and resumes at every offset around a block, in a versioned format, and refuses a damaged state", async () => {
    const data = randomBytes(300)
    for (const cut of [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 299, 300]) {
      const h = await createHasher("sha256", wasmBackend)
      h.update(data.subarray(0, cut))
      const state = h.save!()
      expect([...state.subarray(0, 4)]).toEqual([0x63, 0x61, 0x69, 0x01])
      const r = await resumeHasher("sha256", state, cut)
      r.update(data.subarray(cut))
      expect(r.digest()).toBe(openssl(data))
    }
    const h = await createHasher("sha256", wasmBackend)
    h.update(data.subarray(0, 70))
    const state = h.save!()
    await expect(resumeHasher("sha256", state, 71)).rejects.toThrow(/after 70 bytes/)
    const bad = Uint8Array.from(state)
    bad[44] = 5 // pending length no longer matches the byte count
    await expect(resumeHasher("sha256", bad, 70)).rejects.toThrow(/inconsistent|not a saved/)
    // a state hash-wasm saved (before the kernel, or from the hash-wasm backend) still resumes
    const old = await createHasher("sha256", hashWasmBackend)
    old.update(data.subarray(0, 100))
    const resumed = await resumeHasher("sha256", old.save!(), 100)
    resumed.update(data.subarray(100))
    expect(resumed.digest()).toBe(openssl(data))
  })

  it("the off-thread hasher hashes in its ring, on random splits, and resumes states of either WASM core", async () => {
    resetOffThreadHashStats()
    const data = randomBytes(9 << 20)
    for (const backend of [wasmBackend, hashWasmBackend, nodeBackend]) {
      const h = await OffThreadHasher.start("sha256", backend)
      try {
        let at = 0
        for (const cut of splits(data.length, 99).filter((_, i) => i % 3 === 0)) {
          await h.update(data.subarray(at, cut))
          at = cut
        }
        await h.update(data.subarray(at))
        expect(await h.digest(), backend.name).toBe(openssl(data))
      } finally {
        await h.close()
      }
    }
    const stats = offThreadHashStats()
    expect(stats.hashers).toBe(3)
    expect(stats.bytes).toBe(3 * data.length)
    expect(stats.busySeconds).toBeGreaterThan(0)
    // a hash-wasm state continues off-thread on the default backend
    const old = await createHasher("sha256", hashWasmBackend)
    old.update(data.subarray(0, 1001))
    const off = await OffThreadHasher.start("sha256", wasmBackend, { state: old.save!(), bytes: 1001 })
    await off.update(data.subarray(1001))
    const mid = await off.save()
    expect([...mid!.subarray(0, 4)]).not.toEqual([0x63, 0x61, 0x69, 0x01])
    expect(await off.digest()).toBe(openssl(data))
    await off.close()
  })

  it("picks backends by name, as CAIRN_HASHER and --hasher give them", () => {
    expect(backendFromName(undefined)).toBe(wasmBackend)
    expect(backendFromName("wasm")).toBe(wasmBackend)
    expect(backendFromName("native")).toBe(nodeBackend)
    expect(backendFromName("node")).toBe(nodeBackend)
    expect(() => backendFromName("sha-ni")).toThrow(/expected wasm or native/)
  })

  it("the default backend follows setDefaultHasher, else CAIRN_HASHER at each use, on and off the thread", async () => {
    const before = process.env["CAIRN_HASHER"]
    try {
      delete process.env["CAIRN_HASHER"]
      expect(defaultBackend.name).toBe("wasm")
      expect((await createHasher()).save).toBeDefined()
      process.env["CAIRN_HASHER"] = "native"
      expect(defaultBackend.name).toBe("node")
      expect((await createHasher()).save).toBeUndefined()
      const off = await OffThreadHasher.start("sha256")
      await off.update(Buffer.from("abc"))
      expect(await off.save()).toBeUndefined() // node:crypto on the worker
      expect(await off.digest()).toBe(openssl(Buffer.from("abc")))
      await off.close()
      setDefaultHasher("wasm") // wins over the environment
      expect(defaultBackend.name).toBe("wasm")
      expect(() => setDefaultHasher("md5")).toThrow(/unknown hasher "md5"/)
    } finally {
      setDefaultHasher(undefined)
      if (before === undefined) delete process.env["CAIRN_HASHER"]
      else process.env["CAIRN_HASHER"] = before
    }
  })

  it("self-test reports a tier (the rate is not asserted: tests are not timed)", async () => {
    const r = await kernelSelfTest()
    expect(["optimized", "baseline-suspect"]).toContain(r.tier)
    expect(r.mbPerSec).toBeGreaterThan(0)
    expect(r.liftoffDisabled).toBe(true)
    expect(readFileSync(new URL("../worker/sha256-kernel.mjs", import.meta.url), "utf8")).toContain("--no-liftoff")
  })
})
