// cairn's own sha256 kernel: a WebAssembly module emitted byte by byte by the small generator
// below (no toolchain, no dependency), plus the JS around it (partial blocks, padding, saved state).
// Plain JS beside src/ and dist/ so the hash worker (worker/hash-worker.mjs) and the package
// (src/kernel.ts) load the same file, with or without a build.
//
// The module imports its memory (shared, so a worker's SharedArrayBuffer ring can BE the memory
// and bytes are hashed where they already are) and exports one function:
//   blocks(state, data, n)   compress n 64-byte blocks at `data` into the 8 words at `state`
// The 64 rounds are unrolled with the eight working variables renamed at generation time (no
// moves), the message schedule is a rolling window of 16 locals, rotations are i32.rotr.
import { readFileSync } from "node:fs"
import v8 from "node:v8"

const K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
]
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]

// --- a minimal WebAssembly binary emitter -------------------------------------------------------
const uleb = (n) => {
  const out = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}
const sleb = (n) => {
  n |= 0
  const out = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b]
    out.push(b | 0x80)
  }
}
const str = (s) => [...uleb(s.length), ...Buffer.from(s, "latin1")]
const section = (id, body) => [id, ...uleb(body.length), ...body]
const vec = (items) => [...uleb(items.length), ...items.flat()]
const I32 = 0x7f
const op = {
  block: 0x02, loop: 0x03, br_if: 0x0d, end: 0x0b, get: 0x20, set: 0x21, tee: 0x22,
  load: 0x28, store: 0x36, const: 0x41, eqz: 0x45, add: 0x6a, sub: 0x6b, and: 0x71, or: 0x72, xor: 0x73,
  shr_u: 0x76, rotl: 0x77, rotr: 0x78
}

/**
 * The kernel module's bytes. Options are for measuring variants (bench/): `shared` memory import
 * (default; the ring is shared), `majTrick` (Maj from the previous round's a ^ b, default), and
 * `simdSchedule` (W[16..63] expanded four at a time in v128 into memory: measured slower here,
 * 235-265 vs 285-320 MB/s, the scalar loads of words just stored as vectors stall; off).
 */
export function sha256ModuleBytes({ shared = true, majTrick = true, simdSchedule = false } = {}) {
  // params: 0 state, 1 data, 2 n; locals: 3..10 working vars, 11..26 w[0..15], 27 t1, 28/29 a^b, 30 a v128
  const STATE = 0, DATA = 1, N = 2, V = 3, W = 11, T1 = 27, AB = 28, VEC = 30, W_AT = 1024
  const c = []
  const get = (l) => c.push(op.get, l)
  const set = (l) => c.push(op.set, l)
  const k = (n) => c.push(op.const, ...sleb(n))
  const o = (x) => c.push(x)
  const rotr = (l, n) => (get(l), k(n), o(op.rotr))
  // Σ-style: rotr(x,a) ^ rotr(x,b) ^ (rotr|shr)(x,c)
  const sigma = (l, a, b, cc, shift) => {
    rotr(l, a)
    rotr(l, b)
    o(op.xor)
    get(l), k(cc), o(shift ? op.shr_u : op.rotr)
    o(op.xor)
  }
  c.push(op.block, 0x40, op.loop, 0x40)
  // while (n != 0)
  get(N), o(op.eqz), c.push(op.br_if, 1)
  // working variables from the state
  for (let i = 0; i < 8; i++) get(STATE), c.push(op.load, 2, ...uleb(i * 4)), set(V + i)
  let v = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => V + i)
  const simd = (x) => c.push(0xfd, ...uleb(x))
  const vload = (at) => (k(W_AT), simd(0x00), c.push(4, ...uleb(at)))
  const vstore = (at) => (simd(0x0b), c.push(4, ...uleb(at)))
  if (simdSchedule) {
    // the whole message schedule W[0..63] in memory at W_AT, four words per v128 where it can
    for (let t = 0; t < 16; t += 4) {
      k(W_AT)
      get(DATA), simd(0x00), c.push(0, ...uleb(t * 4))
      c.push(op.tee, VEC, op.get, VEC), simd(0x0d), c.push(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12)
      vstore(t * 4)
    }
    // rotr on i32x4 = shr_u | shl
    const vrotr = (n) => {
      c.push(op.get, VEC), k(n), simd(0xad) // i32x4.shr_u
      c.push(op.get, VEC), k(32 - n), simd(0xab) // i32x4.shl
      simd(0x50) // v128.or
    }
    for (let t = 16; t < 64; t += 4) {
      k(W_AT)
      // W[t-16..] + σ0(W[t-15..]) + W[t-7..]
      vload((t - 16) * 4)
      vload((t - 15) * 4), set(VEC)
      vrotr(7), vrotr(18), simd(0x51), c.push(op.get, VEC), k(3), simd(0xad), simd(0x51) // xor
      simd(0xae) // i32x4.add
      vload((t - 7) * 4), simd(0xae)
      vstore(t * 4)
      // + σ1(W[t-2]) one word at a time: lanes 2 and 3 need the words just made
      for (let i = t; i < t + 4; i++) {
        k(W_AT)
        k(W_AT), c.push(op.load, 2, ...uleb(i * 4))
        k(W_AT), c.push(op.load, 2, ...uleb((i - 2) * 4)), set(T1)
        sigma(T1, 17, 19, 10, true)
        o(op.add), c.push(op.store, 2, ...uleb(i * 4))
      }
    }
  }
  for (let t = 0; t < 64; t++) {
    const w = W + (t & 15)
    if (simdSchedule) {
      // w[t] is loaded from W_AT below
    } else if (t < 16) {
      // big-endian words, four at a time: v128.load, a byte shuffle that swaps each word, lanes out
      if ((t & 3) === 0) {
        get(DATA), c.push(0xfd, 0x00, 0, ...uleb(t * 4))
        c.push(op.tee, VEC, op.get, VEC, 0xfd, 0x0d, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12)
        set(VEC)
      }
      get(VEC), c.push(0xfd, 0x1b, t & 3), set(w)
    } else {
      // w[t] = σ1(w[t-2]) + w[t-7] + σ0(w[t-15]) + w[t-16]
      sigma(W + ((t - 2) & 15), 17, 19, 10, true)
      get(W + ((t - 7) & 15)), o(op.add)
      sigma(W + ((t - 15) & 15), 7, 18, 3, true)
      o(op.add)
      get(w), o(op.add), set(w)
    }
    const [a, b, cc, d, e, f, g, h] = v
    // t1 = h + K[t] + w[t] + Ch(e,f,g) + Σ1(e), the terms that wait on e last;  Ch = g ^ (e & (f ^ g))
    get(h), k(K[t] | 0), o(op.add)
    if (simdSchedule) k(W_AT), c.push(op.load, 2, ...uleb(t * 4))
    else get(w)
    o(op.add)
    get(g), get(e), get(f), get(g), o(op.xor), o(op.and), o(op.xor), o(op.add)
    sigma(e, 6, 11, 25, false)
    o(op.add)
    c.push(op.tee, T1)
    // d += t1
    get(d), o(op.add), set(d)
    // h = Σ0(a) + Maj(a,b,c) + t1
    sigma(a, 2, 13, 22, false)
    if (majTrick) {
      // Maj = b ^ ((a ^ b) & (b ^ c)), and this round's a ^ b is the next round's b ^ c
      const ab = AB + (t & 1), bc = AB + ((t + 1) & 1)
      if (t === 0) get(b), get(cc), o(op.xor), set(bc)
      get(b), get(a), get(b), o(op.xor), c.push(op.tee, ab), get(bc), o(op.and), o(op.xor)
    } else {
      get(a), get(b), o(op.and), get(cc), get(a), get(b), o(op.or), o(op.and), o(op.or)
    }
    o(op.add)
    get(T1), o(op.add), set(h)
    v = [h, a, b, cc, d, e, f, g]
  }
  // state += working variables (v is back in its starting order after 64 renames)
  for (let i = 0; i < 8; i++) {
    get(STATE), get(STATE), c.push(op.load, 2, ...uleb(i * 4)), get(v[i]), o(op.add), c.push(op.store, 2, ...uleb(i * 4))
  }
  get(DATA), k(64), o(op.add), set(DATA)
  get(N), k(1), o(op.sub), set(N)
  c.push(0x0c, 0) // br 0 (loop)
  c.push(op.end, op.end, op.end)
  const body = [...vec([[...uleb(27), I32], [1, 0x7b]]), ...c]
  const code = [...uleb(body.length), ...body]
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32]]), 0]])),
    // import env.memory: shared, min 1, max 65536 pages
    ...section(2, vec([[...str("env"), ...str("memory"), 0x02, shared ? 0x03 : 0x01, ...uleb(1), ...uleb(65536)]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...str("blocks"), 0x00, 0]])),
    ...section(10, vec([code]))
  ])
}

// --- compile once per thread, never left on the baseline tier ---------------------------------
let liftoffOff = false
/**
 * V8 compiles WASM first with its baseline compiler (Liftoff) and tiers hot functions up; a few
 * percent of processes never tier up and hash 3x slower for their whole life. With --no-liftoff
 * set before compiling, the module is compiled by the optimizing compiler (TurboFan) directly.
 * The flag is process-wide (workers included); it only changes how later WASM modules compile.
 */
function noLiftoff() {
  if (liftoffOff || process.env.CAIRN_WASM_LIFTOFF === "1") return
  try {
    v8.setFlagsFromString("--no-liftoff")
    liftoffOff = true
  } catch {}
}
// at load, so every WASM module compiled after it (hash-wasm's sha512 too) skips the baseline tier
noLiftoff()
let compiled
/**
 * The kernel, compiled: its one function is compiled now, not at its first call (V8 compiles WASM
 * functions lazily, and the first call of `blocks` would spend ~9 ms in TurboFan inside a
 * caller's first update). The compiled code belongs to the module, so workers given it by their
 * parent (OffThreadHasher, the layer reader) run it from their first byte without compiling again.
 */
export function compileSha256() {
  if (compiled === undefined) {
    noLiftoff()
    const module = new WebAssembly.Module(sha256ModuleBytes())
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true })
    new WebAssembly.Instance(module, { env: { memory } }).exports.blocks(STATE_AT, DATA_AT, 0)
    compiled = module
  }
  return compiled
}
export const liftoffDisabled = () => liftoffOff

/** Memory layout of a kernel instance: state words, the pending block, then data. */
export const STATE_AT = 0
const PAD_AT = 64 // two blocks of padding (64..192); the message schedule is at 1024..1280
export const DATA_AT = 4096
const PAGE = 65536

/**
 * A kernel instance on `memory` (a shared WebAssembly.Memory), or on a fresh one of `dataBytes`;
 * `module` may come compiled from another thread (a worker is given its parent's).
 */
export function sha256Instance(memory, dataBytes = 1 << 20, module = compileSha256()) {
  memory ??= new WebAssembly.Memory({ initial: Math.ceil((DATA_AT + dataBytes) / PAGE), maximum: Math.ceil((DATA_AT + dataBytes) / PAGE), shared: true })
  const inst = new WebAssembly.Instance(module, { env: { memory } })
  return {
    memory,
    blocks: inst.exports.blocks,
    words: new Int32Array(memory.buffer, STATE_AT, 8),
    bytes: new Uint8Array(memory.buffer),
    dataBytes: memory.buffer.byteLength - DATA_AT
  }
}

/** A shared memory whose data area (from DATA_AT) is a ring of `ringBytes` for a worker's kernel. */
export function ringMemory(ringBytes) {
  const pages = Math.ceil((DATA_AT + ringBytes) / PAGE)
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
  return { memory, ring: new Uint8Array(memory.buffer, DATA_AT, ringBytes) }
}

let shared
/**
 * The thread's own instance for hashing bytes from anywhere (Sha256.update copies them into its
 * 1 MiB data area). Its pages are touched once here, so a first update does not pay 256 page
 * faults (~2.5 ms on this VM) inside the hash.
 */
function sharedInstance() {
  if (shared === undefined) {
    shared = sha256Instance(undefined, 1 << 20)
    shared.bytes.fill(0, DATA_AT)
  }
  return shared
}

/** Saved state, version 1: magic "cai" 0x01, 8 state words (BE), total bytes (u64 BE), pending length, pending bytes. */
const MAGIC = [0x63, 0x61, 0x69, 0x01]
export const isKernelState = (s) => s.length >= 45 && MAGIC.every((b, i) => s[i] === b)

/**
 * One sha256 stream on a kernel instance. Several streams share a thread's instance: each keeps
 * its 8 state words and its partial block here and lends them to the instance per update.
 */
export class Sha256 {
  constructor(instance = sharedInstance()) {
    this.k = instance
    this.h = Int32Array.from(IV)
    this.pending = new Uint8Array(64)
    this.pendingLength = 0
    this.total = 0
  }
  /** Hash `length` bytes already in the instance's memory at `at` (the ring): no copy but a partial block. */
  updateAt(at, length) {
    const { k } = this
    this.total += length
    let end = at + length
    if (this.pendingLength > 0) {
      const take = Math.min(64 - this.pendingLength, length)
      this.pending.set(k.bytes.subarray(at, at + take), this.pendingLength)
      this.pendingLength += take
      at += take
      if (this.pendingLength < 64) return
      k.bytes.set(this.pending, PAD_AT)
      this.run(PAD_AT, 1)
      this.pendingLength = 0
    }
    const n = (end - at) >>> 6
    if (n > 0) this.run(at, n)
    at += n << 6
    if (at < end) {
      this.pending.set(k.bytes.subarray(at, end), 0)
      this.pendingLength = end - at
    }
  }
  /** Hash bytes from anywhere: copied into the instance's data area (whole blocks), then hashed. */
  update(chunk) {
    const { k } = this
    let off = 0
    const len = chunk.length
    this.total += len
    if (this.pendingLength > 0) {
      const take = Math.min(64 - this.pendingLength, len)
      this.pending.set(chunk.subarray(0, take), this.pendingLength)
      this.pendingLength += take
      off = take
      if (this.pendingLength < 64) return
      k.bytes.set(this.pending, PAD_AT)
      this.run(PAD_AT, 1)
      this.pendingLength = 0
    }
    const room = k.dataBytes & ~63
    while (len - off >= 64) {
      const n = Math.min((len - off) & ~63, room)
      k.bytes.set(chunk.subarray(off, off + n), DATA_AT)
      this.run(DATA_AT, n >>> 6)
      off += n
    }
    if (off < len) {
      this.pending.set(chunk.subarray(off), 0)
      this.pendingLength = len - off
    }
  }
  run(at, n) {
    const { k } = this
    k.words.set(this.h)
    k.blocks(STATE_AT, at, n)
    this.h.set(k.words)
  }
  /** The digest as 64 hex characters; the stream is finished. */
  hex() {
    const { k } = this
    const pad = new Uint8Array(128)
    pad.set(this.pending.subarray(0, this.pendingLength))
    pad[this.pendingLength] = 0x80
    const blocks = this.pendingLength < 56 ? 1 : 2
    const bits = this.total * 8
    const view = new DataView(pad.buffer)
    view.setUint32(blocks * 64 - 8, Math.floor(bits / 2 ** 32))
    view.setUint32(blocks * 64 - 4, bits >>> 0)
    k.bytes.set(pad.subarray(0, blocks * 64), PAD_AT)
    this.run(PAD_AT, blocks)
    let out = ""
    for (const w of this.h) out += (w >>> 0).toString(16).padStart(8, "0")
    return out
  }
  save() {
    const s = new Uint8Array(4 + 32 + 8 + 1 + this.pendingLength)
    const view = new DataView(s.buffer)
    s.set(MAGIC)
    for (let i = 0; i < 8; i++) view.setUint32(4 + i * 4, this.h[i] >>> 0)
    view.setUint32(36, Math.floor(this.total / 2 ** 32))
    view.setUint32(40, this.total >>> 0)
    s[44] = this.pendingLength
    s.set(this.pending.subarray(0, this.pendingLength), 45)
    return s
  }
  load(s) {
    if (!isKernelState(s) || s[44] > 63 || s.length !== 45 + s[44]) throw new Error("not a saved cairn sha256 state (version 1)")
    const view = new DataView(s.buffer, s.byteOffset, s.byteLength)
    for (let i = 0; i < 8; i++) this.h[i] = view.getUint32(4 + i * 4) | 0
    this.total = view.getUint32(36) * 2 ** 32 + view.getUint32(40)
    this.pendingLength = s[44]
    this.pending.set(s.subarray(45, 45 + this.pendingLength))
    if (this.total % 64 !== this.pendingLength) throw new Error("saved cairn sha256 state is inconsistent")
    return this
  }
}

/**
 * CPU microseconds (user + system) of the calling thread: process.threadCpuUsage where Node has
 * it (>= 23.9), else Linux's /proc/thread-self/stat (clock ticks of 10 ms), else the process's.
 */
export function threadCpuMicros() {
  if (typeof process.threadCpuUsage === "function") {
    const u = process.threadCpuUsage()
    return u.user + u.system
  }
  try {
    const stat = readFileSync("/proc/thread-self/stat", "latin1")
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100
  } catch {
    const u = process.cpuUsage()
    return u.user + u.system
  }
}
