// Chunks lent by the stream that yields them. A byte stream that reads into pooled memory (the
// registry client's bulk GET reads the network into 1 MiB slabs) marks each chunk with how to
// give that memory back, and the one consumer that holds the chunk last (the store's ingest, once
// the bytes are hashed and written) gives it back for the next read. Allocating fresh memory for
// every network read, and collecting it, cost a 945 MB pull about as much CPU as receiving it.
// A chunk never given back is only garbage-collected, so a consumer that knows nothing of this is
// correct as it is. One that hands a chunk to two readers (a tee) must `keep` it first, or the
// first reader to finish could give back bytes the other still reads.
const lent = new WeakMap<Uint8Array, () => void>()

/** Marks `chunk` as lent: `giveBack(chunk)` calls `onGiveBack`, once. */
export function lend<T extends Uint8Array>(chunk: T, onGiveBack: () => void): T {
  lent.set(chunk, onGiveBack)
  return chunk
}

/** Done with `chunk`'s bytes: nothing reads them again. A chunk that was not lent is left alone. */
export function giveBack(chunk: Uint8Array): void {
  const f = lent.get(chunk)
  if (f === undefined) return
  lent.delete(chunk)
  f()
}

/** Keeps `chunk` for good: it is never given back, whoever else holds it later. */
export function keep<T extends Uint8Array>(chunk: T): T {
  lent.delete(chunk)
  return chunk
}

/** Whether `chunk` is lent and not yet given back. */
export const isLent = (chunk: Uint8Array): boolean => lent.has(chunk)
