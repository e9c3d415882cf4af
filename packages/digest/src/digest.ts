import { InvalidDigestError, UnsupportedAlgorithmError } from "./errors.js"

export type Algorithm = "sha256" | "sha512"

declare const DigestBrand: unique symbol
/** `algorithm:encoded`, validated: only parseDigest/formatDigest and the hashers make one. */
export type Digest = `${Algorithm}:${string}` & { readonly [DigestBrand]: true }

export const algorithms: readonly Algorithm[] = ["sha256", "sha512"]

const hexLength: Record<Algorithm, number> = { sha256: 64, sha512: 128 }

// image-spec descriptor.md: algorithm ::= algorithm-component (algorithm-separator algorithm-component)*
const algorithmGrammar = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/
// encoded ::= [a-zA-Z0-9=_-]+
const encodedGrammar = /^[a-zA-Z0-9=_-]+$/

/**
 * Parse and validate a digest. Registered algorithms are checked strictly
 * (sha256: 64 lowercase hex, sha512: 128); anything else that matches the grammar is
 * UnsupportedAlgorithmError, anything that doesn't is InvalidDigestError naming the bad part.
 * A value that passes can be used to build a path: its encoded part is [0-9a-f] only.
 */
export function parseDigest(input: unknown): Digest {
  if (typeof input !== "string") {
    throw new InvalidDigestError({ input: String(input), reason: `expected a string, got ${typeof input}` })
  }
  const colon = input.indexOf(":")
  if (colon < 0) throw new InvalidDigestError({ input, reason: `expected "algorithm:encoded", no ":" found` })
  const algorithm = input.slice(0, colon)
  const encoded = input.slice(colon + 1)
  if (!algorithmGrammar.test(algorithm)) {
    throw new InvalidDigestError({ input, reason: `algorithm part ${JSON.stringify(algorithm)} is not [a-z0-9]+ separated by [+._-]` })
  }
  if (!encodedGrammar.test(encoded)) {
    throw new InvalidDigestError({ input, reason: `encoded part ${JSON.stringify(encoded)} is empty or has characters outside [a-zA-Z0-9=_-]` })
  }
  if (algorithm !== "sha256" && algorithm !== "sha512") throw new UnsupportedAlgorithmError({ algorithm, input })
  const want = hexLength[algorithm]
  if (encoded.length !== want || !/^[0-9a-f]+$/.test(encoded)) {
    throw new InvalidDigestError({
      input,
      reason: `${algorithm} needs ${want} lowercase hex characters, got ${encoded.length} character${encoded.length === 1 ? "" : "s"}${/[A-F]/.test(encoded) ? " (uppercase hex is not allowed)" : ""}`
    })
  }
  return input as Digest
}

/** True when parseDigest would accept the value. */
export function isDigest(input: unknown): input is Digest {
  try {
    parseDigest(input)
    return true
  } catch {
    return false
  }
}

/** Build a digest from an algorithm and its hex encoding (validated). */
export function formatDigest(algorithm: Algorithm, hex: string): Digest {
  return parseDigest(`${algorithm}:${hex}`)
}

export function digestAlgorithm(digest: Digest): Algorithm {
  return digest.slice(0, digest.indexOf(":")) as Algorithm
}

/** The encoded (hex) part; safe as a file name because parseDigest admits [0-9a-f] only. */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1)
}
