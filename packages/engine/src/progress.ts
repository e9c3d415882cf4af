// Progress events: bytes per layer/blob, emitted by import, pull and extraction.
import type { Digest } from "@cairn/digest"

export interface ProgressEvent {
  readonly kind: "layer" | "blob"
  readonly phase: "download" | "upload" | "extract" | "store" | "done"
  readonly digest: Digest | string
  /** bytes so far in this phase */
  readonly bytes: number
  readonly total?: number
  /** the image reference or source being worked on */
  readonly ref?: string
}

export type ProgressListener = (e: ProgressEvent) => void

/** A tiny synchronous emitter; a listener that throws is dropped from that call, never breaks the operation. */
export class ProgressEmitter {
  private readonly listeners = new Set<ProgressListener>()

  on(listener: ProgressListener): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  emit(e: ProgressEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch {}
    }
  }
}
