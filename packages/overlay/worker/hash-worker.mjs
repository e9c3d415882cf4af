// Hashes byte streams off the main thread for applyLayer's `hashOffThread` option.
// Plain JS beside src/ and dist/ so the same file serves tests (src) and builds (dist).
import { parentPort, workerData } from "node:worker_threads"
import { createHasher, nodeBackend, wasmBackend } from "@cairn/digest"

const backend = workerData.backend === "node" ? nodeBackend : wasmBackend
const hashers = await Promise.all(workerData.algorithms.map((a) => createHasher(a, backend)))
parentPort.on("message", (m) => {
  if (m.type === "chunk") {
    hashers[m.id].update(new Uint8Array(m.buf))
    parentPort.postMessage({ type: "ack", bytes: m.buf.byteLength })
  } else if (m.type === "digest") {
    parentPort.postMessage({ type: "digests", digests: hashers.map((h) => h.digest()), bytes: hashers.map((h) => h.bytes) })
  }
})
parentPort.postMessage({ type: "ready" })
