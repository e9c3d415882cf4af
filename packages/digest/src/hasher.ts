import { createHash as nodeCreateHash } from "node:crypto"
import { createSHA256, createSHA512, type IHasher } from "hash-wasm"
import { type Algorithm, type Digest, formatDigest } from "./digest.js"

/** An incremental hash over a byte stream. */
export interface Hasher {
  readonly algorithm: Algorithm
  /** bytes fed so far */
  readonly bytes: number
  update(chunk: Uint8Array): void
  /** The digest of everything fed; the hasher must not be updated afterwards. */
  digest(): Digest
  /** The internal state, to resume later with resumeHasher (WASM backend only). */
  save?(): Uint8Array
}

/** Where hashers come from: the WASM core (default) or node:crypto, to measure side by side. */
export interface HasherBackend {
  readonly name: "wasm" | "node"
  create(algorithm: Algorithm): Promise<Hasher>
}

class WasmHasher implements Hasher {
  bytes = 0
  constructor(readonly algorithm: Algorithm, private readonly h: IHasher) {}
  update(chunk: Uint8Array) {
    this.h.update(chunk)
    this.bytes += chunk.length
  }
  digest() {
    return formatDigest(this.algorithm, this.h.digest("hex"))
  }
  save() {
    return this.h.save()
  }
}

const createWasm = (algorithm: Algorithm) => (algorithm === "sha256" ? createSHA256() : createSHA512())

export const wasmBackend: HasherBackend = {
  name: "wasm",
  async create(algorithm) {
    const h = await createWasm(algorithm)
    h.init()
    return new WasmHasher(algorithm, h)
  }
}

class NodeHasher implements Hasher {
  bytes = 0
  private readonly h
  constructor(readonly algorithm: Algorithm) {
    this.h = nodeCreateHash(algorithm)
  }
  update(chunk: Uint8Array) {
    this.h.update(chunk)
    this.bytes += chunk.length
  }
  digest() {
    return formatDigest(this.algorithm, this.h.digest("hex"))
  }
}

export const nodeBackend: HasherBackend = {
  name: "node",
  create: async (algorithm) => new NodeHasher(algorithm)
}

/** The design card's default: the streaming WASM core. */
export const defaultBackend: HasherBackend = wasmBackend

export function createHasher(algorithm: Algorithm = "sha256", backend: HasherBackend = defaultBackend): Promise<Hasher> {
  return backend.create(algorithm)
}

/**
 * Continue a WASM hash from a state saved with `save()` after `bytes` bytes, e.g. to resume an
 * interrupted download without re-reading what is already on disk.
 */
export async function resumeHasher(algorithm: Algorithm, state: Uint8Array, bytes: number): Promise<Hasher> {
  const h = await createWasm(algorithm)
  h.init()
  h.load(state)
  const hasher = new WasmHasher(algorithm, h)
  hasher.bytes = bytes
  return hasher
}
