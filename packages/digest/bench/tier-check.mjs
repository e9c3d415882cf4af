// Which V8 tier runs the kernel, on the main thread and on a worker given the parent's module.
// Usage: node --allow-natives-syntax bench/tier-check.mjs   (CAIRN_WASM_LIFTOFF=1: V8's default tiers)
import { isMainThread, Worker, workerData } from "node:worker_threads"
import { compileSha256 } from "../worker/sha256-kernel.mjs"

const mod = isMainThread ? compileSha256() : workerData
const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true })
const f = new WebAssembly.Instance(mod, { env: { memory } }).exports.blocks
f(0, 1024, 1) // one block: the function is compiled on first call
const tier = (fn) => (new Function("fn", "return [%IsLiftoffFunction(fn), %IsTurboFanFunction(fn)]"))(fn)
const [liftoff, turbofan] = tier(f)
console.log(`${process.version} ${isMainThread ? "main" : "worker"}: ${turbofan ? "TurboFan (optimized)" : liftoff ? "Liftoff (baseline)" : "not compiled"}`)
if (isMainThread) new Worker(new URL(import.meta.url), { workerData: mod })
