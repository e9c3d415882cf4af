import { createHash as nodeCreateHash } from "node:crypto"
import type { IHasher } from "hash-wasm"
import { isKernelState, Sha256 } from "../worker/sha256-kernel.mjs"
import { type Algorithm, type Digest, formatDigest } from "./digest.js"

/** An incremental hash over a byte stream. */
export interface Hasher {
  readonly algorithm: Algorithm
  /** bytes fed so far */
  readonly bytes: number
  update(chunk: Uint8Array): void
  /** The digest of everything fed; the hasher must not be updated afterwards. */
  digest(): Digest
  /** The internal state, to resume later with resumeHasher (WASM backends only). */
  save?(): Uint8Array
}

/**
 * Where hashers come from: the WASM core (default: cairn's own sha256 kernel, hash-wasm for
 * sha512), hash-wasm alone (the cross-check), or node:crypto (OpenSSL, SHA-NI where the CPU has it).
 */
export interface HasherBackend {
  readonly name: "wasm" | "node" | "hash-wasm"
  create(algorithm: Algorithm): Promise<Hasher>
}

/** sha256 on cairn's kernel (worker/sha256-kernel.mjs), bytes copied into its memory in 1 MiB pieces. */
class KernelHasher implements Hasher {
  readonly algorithm = "sha256" as const
  constructor(private readonly h: Sha256 = new Sha256()) {}
  get bytes() {
    return this.h.total
  }
  update(chunk: Uint8Array) {
    this.h.update(chunk)
  }
  digest() {
    return formatDigest("sha256", this.h.hex())
  }
  save() {
    return this.h.save()
  }
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

/**
 * A hash-wasm hasher, its functions compiled before it is handed out: V8 compiles a WASM function
 * at its first call, so 16 KiB hashed and thrown away here keep that out of a caller's first update.
 */
async function createWasm(algorithm: Algorithm): Promise<IHasher> {
  // loaded at first use: importing hash-wasm costs a process ~30 ms that commands which never
  // hash with it (cairn images, ps, inspect; sha256 on cairn's kernel) need not pay
  const { createSHA256, createSHA512 } = await import("hash-wasm")
  const h = await (algorithm === "sha256" ? createSHA256() : createSHA512())
  h.update(WARM)
  h.digest("binary")
  h.init()
  return h
}
const WARM = new Uint8Array(16 * 1024)

/** hash-wasm for both algorithms: the cross-check of cairn's kernel. */
export const hashWasmBackend: HasherBackend = {
  name: "hash-wasm",
  async create(algorithm) {
    const h = await createWasm(algorithm)
    h.init()
    return new WasmHasher(algorithm, h)
  }
}

/** The WASM core: cairn's kernel for sha256, hash-wasm for sha512. */
export const wasmBackend: HasherBackend = {
  name: "wasm",
  create: async (algorithm) => (algorithm === "sha256" ? new KernelHasher() : hashWasmBackend.create(algorithm))
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

/** A backend by the name users give it: `wasm` (default), `native` or `node` (node:crypto), `hash-wasm`. */
export function backendFromName(name: string | undefined): HasherBackend {
  switch (name) {
    case undefined:
    case "":
    case "wasm":
      return wasmBackend
    case "native":
    case "node":
      return nodeBackend
    case "hash-wasm":
      return hashWasmBackend
    default:
      throw new Error(`unknown hasher "${name}": expected wasm or native`)
  }
}

let chosen: HasherBackend | undefined
let warned = false
function fromEnv(): HasherBackend {
  try {
    return backendFromName(process.env["CAIRN_HASHER"])
  } catch (e) {
    if (!warned) process.emitWarning(`CAIRN_HASHER: ${(e as Error).message}; using wasm`)
    warned = true
    return wasmBackend
  }
}
const current = () => chosen ?? fromEnv()

/**
 * Picks the process's default backend, which every hot path without an explicit backend uses
 * (the store's put, layer extraction, fsck, archive import): `wasm`, `native` (node:crypto), or
 * undefined to follow `CAIRN_HASHER` again. The engine's `hasher` option and the CLI's
 * `--hasher` set it. Throws on an unknown name.
 */
export function setDefaultHasher(name: string | undefined): void {
  chosen = name === undefined ? undefined : backendFromName(name)
}

/**
 * The default backend: the design card's streaming WASM core unless setDefaultHasher or
 * `CAIRN_HASHER=native` picked node:crypto (read at each use).
 */
export const defaultBackend: HasherBackend = {
  get name() {
    return current().name
  },
  create: (algorithm) => current().create(algorithm)
}

export function createHasher(algorithm: Algorithm = "sha256", backend: HasherBackend = defaultBackend): Promise<Hasher> {
  return backend.create(algorithm)
}

/**
 * Continue a WASM hash from a state saved with `save()` after `bytes` bytes, e.g. to resume an
 * interrupted download without re-reading what is already on disk.
 */
export async function resumeHasher(algorithm: Algorithm, state: Uint8Array, bytes: number): Promise<Hasher> {
  if (algorithm === "sha256" && isKernelState(state)) {
    const h = new Sha256().load(state)
    if (h.total !== bytes) throw new Error(`saved sha256 state is after ${h.total} bytes, not ${bytes}`)
    return new KernelHasher(h)
  }
  // a state saved by hash-wasm (before cairn's kernel, or sha512): continue on hash-wasm
  const h = await createWasm(algorithm)
  h.init()
  h.load(state)
  const hasher = new WasmHasher(algorithm, h)
  hasher.bytes = bytes
  return hasher
}
