// A BlobSink / BlobSource over a temp directory, for tests only (the real store is @cairn/cas):
// blobs/<alg>/<hex> appear only after size+digest verification; partial bytes stay in ingest/.
import { createHash } from "node:crypto"
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { finished } from "node:stream/promises"
import { type Digest, DigestMismatchError, digestAlgorithm, digestHex, SizeMismatchError } from "@cairn/digest"
import type { BlobDescriptor, BlobSink, BlobSource } from "../../src/index.js"

export class DirSink implements BlobSink, BlobSource {
  readonly puts: Digest[] = []
  readonly resumes: Array<{ digest: Digest; offset: number }> = []
  /** when false, digests are not checked (to prove the client checks on its own) */
  verify = true

  constructor(readonly dir: string) {
    mkdirSync(join(dir, "ingest"), { recursive: true })
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  }

  blobPath(d: Digest) {
    return join(this.dir, "blobs", digestAlgorithm(d), digestHex(d))
  }
  ingestPath(d: Digest) {
    return join(this.dir, "ingest", digestHex(d))
  }

  async has(d: Digest) {
    return existsSync(this.blobPath(d))
  }
  async ingestOffset(d: Digest) {
    return existsSync(this.ingestPath(d)) ? statSync(this.ingestPath(d)).size : 0
  }
  async stat(d: Digest) {
    return existsSync(this.blobPath(d)) ? { size: statSync(this.blobPath(d)).size } : undefined
  }
  async open(d: Digest) {
    return createReadStream(this.blobPath(d))
  }
  read(d: Digest): Buffer {
    return readFileSync(this.blobPath(d))
  }
  list(): string[] {
    return readdirSync(join(this.dir, "blobs", "sha256"))
  }

  async put(desc: BlobDescriptor, data: AsyncIterable<Uint8Array>) {
    this.puts.push(desc.digest)
    return this.write(desc, 0, data)
  }

  async resume(desc: BlobDescriptor, offset: number, data: AsyncIterable<Uint8Array>) {
    this.resumes.push({ digest: desc.digest, offset })
    if ((await this.ingestOffset(desc.digest)) !== offset) throw new Error(`resume at ${offset} but ingest holds ${await this.ingestOffset(desc.digest)}`)
    return this.write(desc, offset, data)
  }

  private async write(desc: BlobDescriptor, offset: number, data: AsyncIterable<Uint8Array>) {
    if (await this.has(desc.digest)) return { created: false }
    const ingest = this.ingestPath(desc.digest)
    const hash = createHash(digestAlgorithm(desc.digest))
    if (offset > 0) hash.update(readFileSync(ingest).subarray(0, offset))
    const out = createWriteStream(ingest, { flags: offset > 0 ? "a" : "w" })
    let n = offset
    try {
      for await (const c of data) {
        hash.update(c)
        n += c.length
        if (!out.write(c)) await new Promise<void>((r) => out.once("drain", () => r()))
      }
    } finally {
      out.end()
      await finished(out)
    }
    // partial bytes stay in ingest/ when `data` threw above (the contract's interrupted put)
    const actual = `${digestAlgorithm(desc.digest)}:${hash.digest("hex")}`
    if (n !== desc.size) {
      rmSync(ingest, { force: true })
      throw new SizeMismatchError({ expected: desc.size, actual: n, early: false })
    }
    if (this.verify && actual !== desc.digest) {
      rmSync(ingest, { force: true })
      throw new DigestMismatchError({ expected: desc.digest, actual, bytes: n })
    }
    renameSync(ingest, this.blobPath(desc.digest))
    return { created: true }
  }
}
