// One digest off the main thread for OffThreadHasher (src/offthread.ts): the parent copies
// chunks into a shared ring and names them by offset; we hash them in place and ack.
// The ring is the data area of a shared WebAssembly.Memory, which is also the memory of cairn's
// sha256 kernel here: bytes are copied once (into the ring) and hashed where they are.
// Plain JS beside src/ and dist/ so the same file serves tests (src) and builds (dist); it
// imports the hash cores directly, not @cairn/digest, so it needs no build to run.
import { createHash } from "node:crypto"
import { performance } from "node:perf_hooks"
import { parentPort, workerData } from "node:worker_threads"
import { DATA_AT, isKernelState, Sha256, sha256Instance, threadCpuMicros } from "./sha256-kernel.mjs"

const { algorithm, backend, memory, module, state } = workerData
const ring = new Uint8Array(memory.buffer, DATA_AT)
let update
let digest
let save = () => undefined
if (backend === "node") {
  const h = createHash(algorithm)
  update = (at, n) => h.update(ring.subarray(at, at + n))
  digest = () => h.digest("hex")
} else if (backend === "wasm" && algorithm === "sha256" && (!state || isKernelState(state))) {
  const h = new Sha256(sha256Instance(memory, undefined, module))
  if (state) h.load(state)
  update = (at, n) => h.updateAt(DATA_AT + at, n)
  digest = () => h.hex()
  save = () => h.save()
} else {
  // hash-wasm: sha512, the hash-wasm backend, or a state hash-wasm saved before cairn had its kernel
  // (imported here only: loading it costs a worker ~40 ms of start-up that cairn's kernel does not need)
  const { createSHA256, createSHA512 } = await import("hash-wasm")
  const h = await (algorithm === "sha512" ? createSHA512() : createSHA256())
  h.init()
  if (state) h.load(state)
  update = (at, n) => h.update(ring.subarray(at, at + n))
  digest = () => h.digest("hex")
  save = () => h.save()
}
// the time spent hashing, for the in-pipeline rate (offThreadHashStats)
let busy = 0
const cpu0 = threadCpuMicros()
parentPort.on("message", (m) => {
  if (m.type === "chunk") {
    const t = performance.now()
    update(m.at, m.length)
    busy += performance.now() - t
    parentPort.postMessage({ type: "ack", bytes: m.length })
  } else if (m.type === "digest") {
    const hex = digest()
    parentPort.postMessage({ type: "digest", hex, busyMs: busy, cpuUs: threadCpuMicros() - cpu0 })
  } else if (m.type === "save") {
    parentPort.postMessage({ type: "state", state: save() })
  }
})
parentPort.postMessage({ type: "ready" })
