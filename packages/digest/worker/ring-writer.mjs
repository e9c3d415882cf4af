// The writing side of a shared ring of bytes that another thread reads: chunks are copied in as
// space frees, and announced to the reader in batches. OffThreadHasher (src/offthread.ts) feeds its
// hash worker this way, and @cairn/overlay's layer reader both feeds its thread a stream and hands
// its tar bytes back. Plain JS, like the kernel, so workers need no build.

/**
 * Below this, a misaligned copy is cheap enough as it is (see copyIn).
 */
const ALIGN_MIN = 1024

/**
 * Copies `bytes` into `w.ring` at `at`. V8 copies into shared memory with relaxed atomic stores,
 * a word at a time only when source and target are congruent mod 8 and a byte at a time otherwise
 * (~3.6 GB/s against ~19 on this machine, Node 20 and 24 alike). One chunk of an odd length (a
 * socket's short read, a TLS record, zlib's last output of an input) misaligns every copy after
 * it: such a copy goes first into a private scratch buffer at the target's alignment (a plain
 * memmove), then from there, congruent, into the ring (~19 GB/s both steps together).
 * @param {{ ring: Uint8Array, scratch?: Uint8Array }} w
 * @param {Uint8Array} bytes
 * @param {number} at
 */
function copyIn(w, bytes, at) {
  const target = w.ring.byteOffset + at
  if (((target - bytes.byteOffset) & 7) === 0 || bytes.byteLength < ALIGN_MIN) {
    w.ring.set(bytes, at)
    return
  }
  const base = target & 7
  // a fresh ArrayBuffer's data is at least 8-byte aligned, so offset `base` in it is congruent with the target
  if (w.scratch === undefined || w.scratch.byteLength < base + bytes.byteLength) w.scratch = new Uint8Array(Math.max(bytes.byteLength, 1 << 16) + 8)
  w.scratch.set(bytes, base)
  w.ring.set(w.scratch.subarray(base, base + bytes.byteLength), at)
}

/**
 * Copies chunks into `ring` and calls `announce(at, length)` for what it copied once that is
 * `every` bytes, at the ring's end, before waiting and on flush(); a piece never crosses the ring's
 * end, so every announced range is one contiguous view, and is at most `piece` bytes per copy.
 * The reader gives bytes back with ack(); write() waits only while the ring is full. After
 * stop(reason), write() throws that reason.
 */
export class RingWriter {
  /** bytes copied in / given back by the reader / announced, since the start */
  head = 0
  tail = 0
  posted = 0
  #waiting = []
  #stopped

  constructor(ring, announce, { piece = ring.byteLength, every = 256 * 1024 } = {}) {
    this.ring = ring
    this.size = ring.byteLength
    this.announce = announce
    this.piece = piece
    this.every = every
  }

  /** Copies `chunk` in; resolves once it is all in the ring (the caller may reuse it). */
  async write(chunk) {
    for (let off = 0; off < chunk.byteLength; ) {
      if (this.#stopped !== undefined) throw this.#stopped
      const n = Math.min(chunk.byteLength - off, this.piece, this.size - (this.head % this.size))
      if (this.head + n - this.tail > this.size) {
        this.flush()
        while (this.head + n - this.tail > this.size && this.#stopped === undefined) await new Promise((r) => this.#waiting.push(r))
        if (this.#stopped !== undefined) throw this.#stopped
      }
      copyIn(this, chunk.subarray(off, off + n), this.head % this.size)
      this.commit(n)
      off += n
    }
  }

  /**
   * Room to write into in place, for a producer that can write straight into the ring (a
   * decompressor): `{ at, length }`, contiguous, at most `piece` bytes and at least `min` (or
   * what is left before the ring's end). Waits while there is less. Write there, then commit().
   */
  async reserve(min = 64 * 1024) {
    for (;;) {
      if (this.#stopped !== undefined) throw this.#stopped
      const at = this.head % this.size
      const free = Math.min(this.size - at, this.size - (this.head - this.tail))
      if (free >= Math.min(min, this.size - at)) return { at, length: Math.min(free, this.piece) }
      this.flush()
      await new Promise((r) => this.#waiting.push(r))
    }
  }

  /** `bytes` more are in the ring at its head (written in place after reserve(), or copied by write()): announced once `every` has gathered or the ring's end is reached. */
  commit(bytes) {
    this.head += bytes
    if (this.head - this.posted >= this.every || this.head % this.size === 0) this.flush()
  }

  /** Announces what was copied since the last announcement. */
  flush() {
    if (this.head === this.posted) return
    this.announce(this.posted % this.size, this.head - this.posted)
    this.posted = this.head
  }

  /** The reader is done with `bytes` more. */
  ack(bytes) {
    this.tail += bytes
    this.#wake()
  }

  /** Fails every write, waiting or to come, with `reason` (the first one given). */
  stop(reason) {
    this.#stopped ??= reason
    this.#wake()
  }

  #wake() {
    const ws = this.#waiting
    this.#waiting = []
    for (const w of ws) w()
  }
}
