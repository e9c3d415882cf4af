import { randomBytes } from "node:crypto"
import { describe, expect, it } from "vitest"
import { RingWriter } from "../worker/ring-writer.mjs"

// A reader on the same thread: takes each announced range out of the shared ring and gives it back.
function ringWithReader(size: number, options: { piece?: number; every?: number }) {
  const ring = new Uint8Array(new SharedArrayBuffer(size + 24), 8, size)
  const got: Buffer[] = []
  const writer: RingWriter = new RingWriter(
    ring,
    (at: number, length: number) => {
      got.push(Buffer.from(ring.subarray(at, at + length)))
      queueMicrotask(() => writer.ack(length))
    },
    options
  )
  return { writer, got }
}

const LENGTHS = [1, 7, 100, 1023, 1024, 1025, 4093, 65_531, 65_536, 150_001]

describe("RingWriter", () => {
  it("carries chunks of any length from any source offset into the shared ring unchanged, aligned or not", async () => {
    const source = randomBytes(3 << 20)
    const { writer, got } = ringWithReader(256 * 1024, { piece: 64 * 1024, every: 32 * 1024 })
    const sent: Buffer[] = []
    // lengths and offsets that leave the ring's head and the source at every alignment mod 8,
    // below and above the size at which a misaligned copy goes through the scratch buffer
    let off = 0
    for (let i = 0; off < source.length - 200_000; i++) {
      const skip = i % 8
      const len = LENGTHS[i % LENGTHS.length] ?? 1
      const chunk = source.subarray(off + skip, off + skip + len)
      sent.push(chunk)
      await writer.write(chunk)
      off += skip + len
    }
    writer.flush()
    expect(Buffer.concat(got).equals(Buffer.concat(sent))).toBe(true)
  })
})
