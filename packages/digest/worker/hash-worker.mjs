// One digest off the main thread for OffThreadHasher (src/offthread.ts): the parent copies
// chunks into a shared ring and names them by offset; we hash them in place and ack.
// The ring is the data area of a shared WebAssembly.Memory, which is also the memory of cairn's
// sha256 kernel here: bytes are copied once (into the ring) and hashed where they are.
// Plain JS beside src/ and dist/ so the same file serves tests (src) and builds (dist); it
// imports the hash cores directly, not @cairn/digest, so it needs no build to run.
import { performance } from "node:perf_hooks"
import { parentPort, workerData } from "node:worker_threads"
import { ringHasher } from "./ring-hasher.mjs"
import { threadCpuMicros } from "./sha256-kernel.mjs"

const { algorithm, backend, memory, module, state } = workerData
// No top-level await (see @cairn/overlay's layer-reader.mjs): a thread terminated while a
// module's top-level await is pending can abort the whole process in V8.
async function main() {
  const { update, hex: digest, save } = await ringHasher({ algorithm, backend, memory, module, state })
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
}
void main()
