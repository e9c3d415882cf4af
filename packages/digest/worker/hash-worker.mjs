// One digest off the main thread for OffThreadHasher (src/offthread.ts): the parent copies
// chunks into a shared ring and names them by offset; we hash them in place and ack.
// Plain JS beside src/ and dist/ so the same file serves tests (src) and builds (dist); it
// imports the hash cores directly, not @cairn/digest, so it needs no build to run.
import { createHash } from "node:crypto"
import { parentPort, workerData } from "node:worker_threads"
import { createSHA256, createSHA512 } from "hash-wasm"

const { algorithm, backend, ring: shared, state } = workerData
const ring = new Uint8Array(shared)
let update
let digest
let save = () => undefined
if (backend === "node") {
  const h = createHash(algorithm)
  update = (b) => h.update(b)
  digest = () => h.digest("hex")
} else {
  const h = await (algorithm === "sha512" ? createSHA512() : createSHA256())
  h.init()
  if (state) h.load(state)
  update = (b) => h.update(b)
  digest = () => h.digest("hex")
  save = () => h.save()
}
parentPort.on("message", (m) => {
  if (m.type === "chunk") {
    update(ring.subarray(m.at, m.at + m.length))
    parentPort.postMessage({ type: "ack", bytes: m.length })
  } else if (m.type === "digest") {
    parentPort.postMessage({ type: "digest", hex: digest() })
  } else if (m.type === "save") {
    parentPort.postMessage({ type: "state", state: save() })
  }
})
parentPort.postMessage({ type: "ready" })
