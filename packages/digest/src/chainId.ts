import { createHash } from "node:crypto"
import { type Digest, formatDigest, parseDigest } from "./digest.js"

/**
 * The chainID of a layer stack (image-spec config.md, "Layer ChainID"):
 * ChainID(L0) = DiffID(L0); ChainID(L0..n) = SHA256(ChainID(L0..n-1) + " " + DiffID(Ln)).
 * Tiny inputs, off the hot path: hashed synchronously with node:crypto.
 */
export function chainId(diffIds: readonly (Digest | string)[]): Digest {
  const all = chainIds(diffIds)
  const last = all[all.length - 1]
  if (last === undefined) throw new RangeError("chainId of an empty layer stack is undefined: give at least one diffID")
  return last
}

/** The chainIDs of every prefix of the stack: result[i] names layers 0..i. */
export function chainIds(diffIds: readonly (Digest | string)[]): Digest[] {
  const out: Digest[] = []
  for (const d of diffIds) {
    const next = parseDigest(d)
    const prev = out[out.length - 1]
    out.push(prev === undefined ? next : formatDigest("sha256", createHash("sha256").update(`${prev} ${next}`).digest("hex")))
  }
  return out
}
