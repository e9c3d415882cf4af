// The blob-transfer contract as @cairn/registry defines it (CONVENTIONS.md), copied here so the
// type checker proves Store implements it structurally without either package importing the other.
import { createHash } from "node:crypto"
import type { Digest } from "@cairn/digest"
import { expect, it } from "vitest"
import { Store } from "../src/index.js"
import { cutOff, tempDir } from "./tempLayout.js"

interface BlobSink {
  has(digest: Digest): Promise<boolean>
  put(desc: { digest: Digest; size: number; mediaType?: string }, data: AsyncIterable<Uint8Array>): Promise<{ created: boolean }>
  ingestOffset?(digest: Digest): Promise<number>
  resume?(desc: { digest: Digest; size: number; mediaType?: string }, offset: number, data: AsyncIterable<Uint8Array>): Promise<{ created: boolean }>
}
interface BlobSource {
  stat(digest: Digest): Promise<{ size: number } | undefined>
  open(digest: Digest): Promise<AsyncIterable<Uint8Array>>
}

it("is a BlobSink and a BlobSource, including resume after an interrupted transfer", async () => {
  const store = await Store.open(tempDir())
  const sink: BlobSink = store
  const source: BlobSource = store
  const data = Buffer.alloc(300_000, 9)
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest
  const desc = { digest, size: data.length, mediaType: "application/octet-stream" }
  await expect(sink.put(desc, cutOff(data, 100_000))).rejects.toThrow()
  const offset = (await sink.ingestOffset?.(digest)) ?? 0
  expect(offset).toBe(100_000)
  async function* rest() {
    yield data.subarray(offset)
  }
  expect((await sink.resume?.(desc, offset, rest()))?.created).toBe(true)
  expect(await sink.has(digest)).toBe(true)
  expect(await source.stat(digest)).toEqual({ size: data.length })
  let n = 0
  for await (const c of await source.open(digest)) n += c.length
  expect(n).toBe(data.length)
})
