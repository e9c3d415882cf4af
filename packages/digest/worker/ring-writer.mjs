// The writing side of a shared ring of bytes that another thread reads: chunks are copied in as
// space frees, and announced to the reader in batches. OffThreadHasher (src/offthread.ts) feeds its
// hash worker this way, and @cairn/overlay's layer reader both feeds its thread a stream and hands
// its tar bytes back. Plain JS, like the kernel, so workers need no build.

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
      this.ring.set(chunk.subarray(off, off + n), this.head % this.size)
      this.head += n
      off += n
      if (this.head - this.posted >= this.every || this.head % this.size === 0) this.flush()
    }
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
