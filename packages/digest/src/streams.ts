import { Transform, type TransformCallback } from "node:stream"
import type { Algorithm, Digest } from "./digest.js"
import { digestAlgorithm, parseDigest } from "./digest.js"
import { DigestMismatchError, SizeMismatchError } from "./errors.js"
import { createHasher, type Hasher, type HasherBackend } from "./hasher.js"

/** Hash a whole byte array or string (UTF-8). */
export async function digestBytes(data: Uint8Array | string, algorithm: Algorithm = "sha256"): Promise<Digest> {
  const h = await createHasher(algorithm)
  h.update(typeof data === "string" ? Buffer.from(data, "utf8") : data)
  return h.digest()
}

/** Hash everything a stream yields; returns the digest and the byte count. */
export async function digestReadable(
  source: AsyncIterable<Uint8Array | string>,
  algorithm: Algorithm = "sha256",
  backend?: HasherBackend
): Promise<{ digest: Digest; size: number }> {
  const h = await createHasher(algorithm, backend)
  for await (const chunk of source) h.update(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
  return { digest: h.digest(), size: h.bytes }
}

/** A pass-through that feeds every byte to `hasher`; read `hasher.digest()` once it ends. */
export function hashingStream(hasher: Hasher): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hasher.update(chunk)
      cb(null, chunk)
    }
  })
}

export interface VerifyOptions {
  readonly digest: Digest | string
  /** expected byte count; more bytes fail at once, fewer fail at the end */
  readonly size?: number
  readonly backend?: HasherBackend
}

/** The pass-through returned by verifyingStream; `hasher` exposes bytes seen so far. */
export interface VerifyingStream extends Transform {
  readonly hasher: Hasher
}

/**
 * A pass-through that fails the pipeline with DigestMismatchError or SizeMismatchError when
 * what flowed through is not what was announced. An oversize stream fails as soon as the
 * extra byte arrives, so a hostile source cannot make us consume unbounded input.
 */
export async function verifyingStream(options: VerifyOptions): Promise<VerifyingStream> {
  const expected = parseDigest(options.digest)
  const size = options.size
  const hasher = await createHasher(digestAlgorithm(expected), options.backend)
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (size !== undefined && hasher.bytes + chunk.length > size) {
        cb(new SizeMismatchError({ expected: size, actual: hasher.bytes + chunk.length, early: true }))
        return
      }
      hasher.update(chunk)
      cb(null, chunk)
    },
    flush(cb) {
      if (size !== undefined && hasher.bytes !== size) {
        cb(new SizeMismatchError({ expected: size, actual: hasher.bytes, early: false }))
        return
      }
      const actual = hasher.digest()
      cb(actual === expected ? null : new DigestMismatchError({ expected, actual, bytes: hasher.bytes }))
    }
  }) as VerifyingStream
  Object.defineProperty(stream, "hasher", { value: hasher, enumerable: false })
  return stream
}
