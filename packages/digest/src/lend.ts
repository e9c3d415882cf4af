// Chunks lent by the stream that yields them. A byte stream that reads into pooled memory (the
// registry client's bulk GET reads the network into 1 MiB slabs) marks each chunk with how to
// give that memory back, and the one consumer that holds the chunk last (the store's ingest, once
// the bytes are hashed and written) gives it back for the next read. Allocating fresh memory for
// every network read, and collecting it, cost a 945 MB pull about as much CPU as receiving it.
// A chunk never given back is only garbage-collected, so a consumer that knows nothing of this is
// correct as it is. One that hands a chunk to two readers (a tee) must `share` it (or `keep` it),
// or the first reader to finish could give back bytes the other still reads.
const lent = new WeakMap<Uint8Array, () => void>()

/** Marks `chunk` as lent: the first `giveBack(chunk)` calls `onGiveBack`. */
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

/**
 * `n` views of `chunk`'s bytes, one per reader. If `chunk` was lent, each view is lent and
 * `chunk` is given back once every view is; if not, the views are `chunk` itself.
 */
export function share<T extends Uint8Array>(chunk: T, n: number): T[] {
  const f = lent.get(chunk)
  if (f === undefined) return Array.from({ length: n }, () => chunk)
  lent.delete(chunk)
  let left = n
  const one = () => {
    if (--left === 0) f()
  }
  return Array.from({ length: n }, () => lend(chunk.subarray() as T, one))
}

/** Keeps `chunk` for good: it is never given back, whoever else holds it later. */
export function keep<T extends Uint8Array>(chunk: T): T {
  lent.delete(chunk)
  return chunk
}

/** Whether `chunk` is lent and not yet given back. */
export const isLent = (chunk: Uint8Array): boolean => lent.has(chunk)
