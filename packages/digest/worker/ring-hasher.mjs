// One digest over bytes that lie in a shared ring, on the thread that calls it: cairn's kernel
// hashes them where they are (the ring is the data area of its memory, see ringMemory), node:crypto
// and hash-wasm are given views of them. The hash worker (OffThreadHasher) and @cairn/overlay's
// layer-reader worker both hash this way. Plain JS, like the kernel, so workers need no build.
import { createHash } from "node:crypto"
import { compileSha256, DATA_AT, isKernelState, ringMemory, Sha256, sha256Instance } from "./sha256-kernel.mjs"

/** Whether ringHasher hashes `algorithm` on `backend` with cairn's kernel. */
const onKernel = (algorithm, backend) => backend === "wasm" && algorithm === "sha256"

/**
 * cairn's kernel, compiled, for a thread that will call ringHasher with `algorithm` and `backend`
 * (undefined when that hasher does not use it): given to the thread, it spares the thread
 * generating and compiling the module again.
 */
export const kernelModuleFor = (algorithm, backend) => (onKernel(algorithm, backend) ? compileSha256() : undefined)

/**
 * A hasher for `algorithm` on `backend` ("wasm": cairn's kernel for sha256, hash-wasm for sha512;
 * "node"; "hash-wasm") over the ring of `memory` (a shared WebAssembly.Memory from ringMemory).
 * `module` is the kernel compiled elsewhere (a parent's), `state` a saved state to resume.
 * update(at, n) hashes ring bytes [at, at + n); hex() finishes; save() is undefined on node:crypto.
 */
export async function ringHasher({ algorithm, backend, memory, module, state }) {
  const ring = new Uint8Array(memory.buffer, DATA_AT)
  if (backend === "node") {
    const h = createHash(algorithm)
    return { update: (at, n) => h.update(ring.subarray(at, at + n)), hex: () => h.digest("hex"), save: () => undefined }
  }
  if (onKernel(algorithm, backend) && (!state || isKernelState(state))) {
    const h = new Sha256(sha256Instance(memory, undefined, module))
    if (state) h.load(state)
    return { update: (at, n) => h.updateAt(DATA_AT + at, n), hex: () => h.hex(), save: () => h.save() }
  }
  // hash-wasm: sha512, the hash-wasm backend, or a state hash-wasm saved before cairn had its kernel
  // (imported here only: loading it costs a thread ~40 ms of start-up that cairn's kernel does not need)
  const { createSHA256, createSHA512 } = await import("hash-wasm")
  const h = await (algorithm === "sha512" ? createSHA512() : createSHA256())
  h.init()
  if (state) h.load(state)
  return { update: (at, n) => h.update(ring.subarray(at, at + n)), hex: () => h.digest("hex"), save: () => h.save() }
}

export { DATA_AT, ringMemory }
