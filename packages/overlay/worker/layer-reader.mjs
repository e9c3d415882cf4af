// The layer-reader thread of @cairn/overlay (src/layerReader.ts): reads a compressed layer file,
// hashes it (the blob digest) and decompresses it, and hands the tar bytes to the applying thread
// through a shared ring. The file is read into slots of the hash kernel's own memory, hashed where
// it lies and decompressed from there: no buffer is allocated per read. This thread's small heap
// also takes the decompressor's output buffers, whose churn (one per MiB of tar) made the
// applying thread's heap, larger and long-lived, run a full mark-compact every ~15 MB.
//
// A stream (a download) comes through an input ring instead, which is the hash kernel's memory:
// the parent copies its chunks in, and they are hashed and decompressed where they lie.
//
// Parent -> here: { type: "ack", bytes } (ring bytes the parent is done with);
//                 for a stream, { type: "input", at, length } and { type: "input-end" }.
// Here -> parent, for a stream: { type: "input-ack", bytes } (input bytes decompressed, reusable).
// Here -> parent: { type: "chunk", at, length, read } (read: file bytes read so far), then { type: "end", size, hex } or
//                 { type: "error", stage: "read" | "decompress", message, code?, errno?, syscall? }.
import { closeSync, openSync, readSync } from "node:fs"
import { parentPort, workerData } from "node:worker_threads"
import * as zlib from "node:zlib"
import { DATA_AT, ringHasher, ringMemory } from "@cairn/digest/ring-hasher"
import { RingWriter } from "@cairn/digest/ring-writer"

/** bytes per read, slots of them in flight (the decompressor holds at most this many reads) */
const READ = 512 * 1024
const SLOTS = 3
/**
 * output announced to the parent once this much is in the ring (one message per MiB), and the
 * decompressor's output size. Per 256 KiB, postMessage took 147 ms of the applying thread's
 * profile on the libs layer, 97 ms per MiB; with the parent's rings to match, the extraction
 * took 5.33 s of CPU instead of 5.52 (medians of 5 interleaved runs), the 50,000-file layer
 * 5.11 instead of 5.31
 */
const ANNOUNCE = 1024 * 1024

const { path, input, compression, out, hash, module } = workerData
// the file's read slots, or the stream's input ring: both the data area of the kernel's memory
const { memory, ring: slots } = input === undefined ? ringMemory(READ * SLOTS) : { memory: input.memory, ring: new Uint8Array(input.memory.buffer, DATA_AT, input.bytes) }
const hasher = hash === undefined ? undefined : await ringHasher({ algorithm: hash.algorithm, backend: hash.backend, memory, module })
const decoder = compression === "gzip" ? zlib.createGunzip({ chunkSize: ANNOUNCE }) : zlib.createZstdDecompress({ chunkSize: ANNOUNCE })

let size = 0 // bytes read from the file
let readError
// the tar bytes, announced to the parent per MiB with the file bytes read so far
const tarRing = new RingWriter(new Uint8Array(out), (at, length) => parentPort.postMessage({ type: "chunk", at, length, read: size }), { every: ANNOUNCE })
/** a stream's announced input pieces, and whether it has ended */
const inputs = []
let inputEnded = false
let inputWake
parentPort.on("message", (m) => {
  if (m.type === "ack") {
    tarRing.ack(m.bytes)
    return
  }
  if (m.type === "input") inputs.push(m)
  else if (m.type === "input-end") inputEnded = true
  else return
  const w = inputWake
  inputWake = undefined
  w?.()
})

async function feed() {
  let fd
  try {
    fd = openSync(path, "r")
    const consumed = new Array(SLOTS)
    for (let i = 0; ; i = (i + 1) % SLOTS) {
      // a slot is read into again only once the decompressor has taken its bytes
      await consumed[i]
      const n = readSync(fd, slots, i * READ, READ, null)
      if (n === 0) break
      size += n
      hasher?.update(i * READ, n)
      consumed[i] = new Promise((resolve) => decoder.write(slots.subarray(i * READ, i * READ + n), () => resolve()))
    }
    decoder.end()
  } catch (e) {
    readError = e
    decoder.destroy(e)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** A stream: each piece the parent copied in is hashed and decompressed in place, then given back. */
async function feedInput() {
  for (;;) {
    while (inputs.length === 0 && !inputEnded) await new Promise((r) => (inputWake = r))
    const m = inputs.shift()
    if (m === undefined) break
    size += m.length
    hasher?.update(m.at, m.length)
    decoder.write(slots.subarray(m.at, m.at + m.length), () => parentPort.postMessage({ type: "input-ack", bytes: m.length }))
  }
  decoder.end()
}

async function drain() {
  for await (const c of decoder) await tarRing.write(c)
  tarRing.flush()
}

try {
  await Promise.all([input === undefined ? feed() : feedInput(), drain()])
  parentPort.postMessage({ type: "end", size, hex: hasher?.hex() })
} catch (e) {
  const err = readError ?? e
  parentPort.postMessage({
    type: "error",
    stage: readError === undefined ? "decompress" : "read",
    message: String(err?.message ?? err),
    code: err?.code,
    errno: err?.errno,
    syscall: err?.syscall
  })
}
