import { createHash } from "node:crypto"
import { performance } from "node:perf_hooks"
import { liftoffDisabled, Sha256, threadCpuMicros } from "../worker/sha256-kernel.mjs"

export type KernelName = "cairn" | "hash-wasm" | "native"

export interface KernelRate {
  readonly kernel: KernelName
  readonly bytes: number
  /** CPU time of this thread while hashing (see threadCpuMicros: 10 ms ticks on Node < 23.9) */
  readonly cpuSeconds: number
  readonly wallSeconds: number
  /** MB (10^6 bytes) per second of CPU */
  readonly mbPerSec: number
}


let block: Uint8Array | undefined
const input = () => {
  if (block === undefined) {
    block = new Uint8Array(1 << 20)
    for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24
  }
  return block
}

/**
 * The standalone rate of a sha256 kernel on the calling thread: `bytes` (default 256 MiB) in
 * 1 MiB updates, timed in CPU seconds of this thread (process.threadCpuUsage on Node >= 23.9,
 * /proc/thread-self/stat before). The benchmark sets it beside offThreadHashStats().
 */
export async function measureKernel(options: { bytes?: number; kernel?: KernelName } = {}): Promise<KernelRate> {
  const kernel = options.kernel ?? "cairn"
  const buf = input()
  const rounds = Math.max(1, Math.round((options.bytes ?? 256 << 20) / buf.length))
  let update: (b: Uint8Array) => void
  let finish: () => unknown
  if (kernel === "cairn") {
    const h = new Sha256()
    update = (b) => h.update(b)
    finish = () => h.hex()
  } else if (kernel === "hash-wasm") {
    const { createSHA256 } = await import("hash-wasm")
    const h = await createSHA256()
    h.init()
    update = (b) => h.update(b)
    finish = () => h.digest("hex")
  } else {
    const h = createHash("sha256")
    update = (b) => h.update(b)
    finish = () => h.digest("hex")
  }
  const c0 = threadCpuMicros()
  const t0 = performance.now()
  for (let i = 0; i < rounds; i++) update(buf)
  finish()
  const wallSeconds = (performance.now() - t0) / 1000
  const cpuSeconds = (threadCpuMicros() - c0) / 1e6
  const bytes = rounds * buf.length
  return { kernel, bytes, cpuSeconds, wallSeconds, mbPerSec: bytes / 1e6 / Math.max(cpuSeconds, 1e-6) }
}

/**
 * Below this many MB per second of CPU, the kernel is taken to run on V8's baseline compiler
 * (Liftoff): optimized it does 250-450 on the 2-core EPYC of the scoreboard, Liftoff 80-90.
 */
export const BASELINE_SUSPECT_MB_PER_SEC = 150

/**
 * Is this process's kernel optimized? Hashes 16 MiB to warm up, then 64 MiB timed in CPU seconds.
 * `liftoffDisabled`: V8's baseline compiler was switched off before the kernel was compiled, as
 * cairn does unless CAIRN_WASM_LIFTOFF=1.
 */
export async function kernelSelfTest(): Promise<{
  mbPerSec: number
  tier: "optimized" | "baseline-suspect"
  liftoffDisabled: boolean
}> {
  await measureKernel({ bytes: 16 << 20 })
  const { mbPerSec } = await measureKernel({ bytes: 64 << 20 })
  return {
    mbPerSec,
    tier: mbPerSec < BASELINE_SUSPECT_MB_PER_SEC ? "baseline-suspect" : "optimized",
    liftoffDisabled: liftoffDisabled()
  }
}
