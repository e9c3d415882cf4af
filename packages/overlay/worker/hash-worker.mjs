// Hashes one byte stream off the main thread for applyLayer's `hashOffThread` option: the parent
// copies chunks into a shared ring and names them by offset; we hash them in place and ack.
// Plain JS beside src/ and dist/ so the same file serves tests (src) and builds (dist).
import { parentPort, workerData } from "node:worker_threads"
import { createHasher, nodeBackend, wasmBackend } from "@cairn/digest"

const backend = workerData.backend === "node" ? nodeBackend : wasmBackend
const ring = new Uint8Array(workerData.ring)
const hasher = await createHasher(workerData.algorithm, backend)
parentPort.on("message", (m) => {
  if (m.type === "chunk") {
    hasher.update(ring.subarray(m.at, m.at + m.length))
    parentPort.postMessage({ type: "ack", bytes: m.length })
  } else if (m.type === "digest") {
    parentPort.postMessage({ type: "digest", digest: hasher.digest(), bytes: hasher.bytes })
  }
})
parentPort.postMessage({ type: "ready" })
