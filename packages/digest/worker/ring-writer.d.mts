export declare class RingWriter {
  head: number
  tail: number
  posted: number
  constructor(ring: Uint8Array, announce: (at: number, length: number) => void, options?: { piece?: number; every?: number })
  write(chunk: Uint8Array): Promise<void>
  reserve(min?: number): Promise<{ at: number; length: number }>
  commit(bytes: number): void
  flush(): void
  ack(bytes: number): void
  stop(reason: Error): void
}
