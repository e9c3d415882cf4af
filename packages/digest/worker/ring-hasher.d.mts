import type { WasmMemory, WasmModule } from "./sha256-kernel.mjs"
export { DATA_AT, ringMemory } from "./sha256-kernel.mjs"
export interface RingHasher {
  update(at: number, length: number): void
  hex(): string
  save(): Uint8Array | undefined
}
export declare function ringHasher(options: {
  algorithm: "sha256" | "sha512"
  backend: "wasm" | "node" | "hash-wasm"
  memory: WasmMemory
  module?: WasmModule
  state?: Uint8Array
}): Promise<RingHasher>
export declare function kernelModuleFor(algorithm: string, backend: string): WasmModule | undefined
