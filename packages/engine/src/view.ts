import type { Readable, Writable } from "node:stream"
import type { EngineContext } from "./context.js"
import type { ImageSummary } from "./images.js"

export interface FileEntry {
  readonly name: string
  readonly path: string
  readonly type: string
  readonly size: number
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly linkTarget?: string
}
export interface LayerAnalysis {
  readonly layer: string
  readonly size: number
  readonly wastedBytes: number
}
export async function listFiles(_ctx: EngineContext, _image: string, _path: string): Promise<Array<FileEntry>> {
  throw new Error("not yet")
}
export async function readFile(_ctx: EngineContext, _image: string, _path: string): Promise<Readable> {
  throw new Error("not yet")
}
export async function flatten(_ctx: EngineContext, _image: string, _name: string): Promise<ImageSummary> {
  throw new Error("not yet")
}
export async function exportFs(_ctx: EngineContext, _what: string, _dest: Writable | string): Promise<void> {
  throw new Error("not yet")
}
export async function analyze(_ctx: EngineContext, _image: string): Promise<Array<LayerAnalysis>> {
  throw new Error("not yet")
}
