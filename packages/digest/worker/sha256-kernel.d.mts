/** WebAssembly objects, opaque here (the package's lib has no DOM/WebAssembly types). */
export type WasmMemory = object
export type WasmModule = object
export declare function sha256ModuleBytes(): Uint8Array
export declare function compileSha256(): WasmModule
export declare function liftoffDisabled(): boolean
export declare const STATE_AT: number
export declare const DATA_AT: number
export interface KernelInstance {
  readonly memory: WasmMemory
  readonly dataBytes: number
}
export declare function sha256Instance(memory?: WasmMemory, dataBytes?: number, module?: WasmModule): KernelInstance
export declare function isKernelState(s: Uint8Array): boolean
export declare class Sha256 {
  constructor(instance?: KernelInstance)
  total: number
  updateAt(at: number, length: number): void
  update(chunk: Uint8Array): void
  hex(): string
  save(): Uint8Array
  load(s: Uint8Array): this
}
export declare function ringMemory(ringBytes: number): { memory: WasmMemory; ring: Uint8Array }
export declare function threadCpuMicros(): number
