// Kernel-alone rates in fresh processes, interleaved, in MB (10^6 B) per second of CPU:
// cairn's kernel vs hash-wasm vs node:crypto, and how many processes were left on the slow tier.
// Usage: node bench/kernel-rates.mjs [--procs N] [--mib M] [--kernels cairn,hash-wasm,native] [--liftoff]  (after a build)
// One child = one kernel, one measurement; --liftoff sets CAIRN_WASM_LIFTOFF=1 (V8's default tiers).
import { execFileSync } from "node:child_process"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    procs: { type: "string", default: "10" },
    mib: { type: "string", default: "64" },
    kernels: { type: "string", default: "cairn,hash-wasm,native" },
    child: { type: "string" },
    liftoff: { type: "boolean" }
  }
})
if (values.child) {
  const { measureKernel } = await import("../dist/kernel.js")
  await measureKernel({ kernel: values.child, bytes: 16 << 20 }) // warm-up, as kernelSelfTest does
  const r = await measureKernel({ kernel: values.child, bytes: Number(values.mib) << 20 })
  console.log(JSON.stringify(r))
  process.exit(0)
}
const kernels = values.kernels.split(",")
const rates = Object.fromEntries(kernels.map((k) => [k, []]))
const env = { ...process.env, ...(values.liftoff ? { CAIRN_WASM_LIFTOFF: "1" } : {}) }
for (let i = 0; i < Number(values.procs); i++) {
  for (const k of kernels) {
    const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, "--child", k, "--mib", values.mib], { env })
    rates[k].push(JSON.parse(out).mbPerSec)
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const slow = (a) => a.filter((r) => r < 150).length
for (const k of kernels) {
  console.log(`${k.padEnd(10)} median ${median(rates[k]).toFixed(0)} MB/s CPU  min ${Math.min(...rates[k]).toFixed(0)}  max ${Math.max(...rates[k]).toFixed(0)}  below 150: ${slow(rates[k])}/${rates[k].length}`)
}
if (rates.cairn && rates["hash-wasm"]) console.log(`cairn / hash-wasm (medians): ${(median(rates.cairn) / median(rates["hash-wasm"])).toFixed(2)}  node ${process.version}${values.liftoff ? " (liftoff allowed)" : ""}`)
