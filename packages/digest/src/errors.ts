// the Data module alone: importing all of "effect" costs ~35 MB of RSS in every hashing worker
import * as Data from "effect/Data"

/** A string that is not a well-formed OCI digest (image-spec descriptor.md, "Digests"). */
export class InvalidDigestError extends Data.TaggedError("InvalidDigestError")<{
  readonly input: string
  readonly reason: string
}> {
  override get message() {
    return `invalid digest ${JSON.stringify(this.input)}: ${this.reason}`
  }
}

/** A well-formed digest whose algorithm cairn cannot verify. */
export class UnsupportedAlgorithmError extends Data.TaggedError("UnsupportedAlgorithmError")<{
  readonly algorithm: string
  readonly input: string
}> {
  override get message() {
    return `unsupported digest algorithm "${this.algorithm}" in ${JSON.stringify(this.input)}: cairn verifies sha256 and sha512 only`
  }
}

/** Content whose hash is not the digest it was announced under. */
export class DigestMismatchError extends Data.TaggedError("DigestMismatchError")<{
  readonly expected: string
  readonly actual: string
  readonly bytes: number
}> {
  override get message() {
    return `digest mismatch: expected ${this.expected}, got ${this.actual} over ${this.bytes} bytes`
  }
}

/** Content whose length is not the size it was announced with. */
export class SizeMismatchError extends Data.TaggedError("SizeMismatchError")<{
  readonly expected: number
  /** bytes seen; when `early`, at least this many arrived before the stream was cut */
  readonly actual: number
  readonly early: boolean
}> {
  override get message() {
    return this.early
      ? `size mismatch: expected ${this.expected} bytes, but more arrived (${this.actual} so far)`
      : `size mismatch: expected ${this.expected} bytes, got ${this.actual}`
  }
}

/** A class of typed error (an Effect `Data.TaggedError` subclass, say). */
// biome-ignore lint/suspicious/noExplicitAny: a constructor of any arity
export type ErrorClass = abstract new (...args: any[]) => Error

/**
 * The guard of a package's list of error classes: each package keeps one list, which yields both
 * its union type (`InstanceType<(typeof List)[number]>`) and, through this, its guard.
 */
export const errorGuard =
  <const L extends ReadonlyArray<ErrorClass>>(list: L) =>
  (e: unknown): e is InstanceType<L[number]> =>
    list.some((k) => e instanceof k)

/** Every typed failure of @cairn/digest. */
export const DigestErrors = [DigestMismatchError, InvalidDigestError, SizeMismatchError, UnsupportedAlgorithmError] as const

export type DigestError = InstanceType<(typeof DigestErrors)[number]>

export const isDigestError = errorGuard(DigestErrors)
