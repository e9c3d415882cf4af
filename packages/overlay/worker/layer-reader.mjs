// The layer-reader thread of @cairn/overlay (src/layerReader.ts): reads a compressed layer file,
// hashes it (the blob digest) and decompresses it, and hands the tar bytes to the applying thread
// through a shared ring. The file is read into slots of the hash kernel's own memory, hashed where
// it lies and decompressed from there, on this thread, straight into the tar ring (syncInflater):
// no buffer is allocated per read or per output. (Where node:zlib's stream must be used instead,
// its output buffers churn this thread's small heap, not the applying thread's larger one, where
// they ran a full mark-compact every ~15 MB.)
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
/** the blob digest's hasher, set by main() before any byte is read */
let hasher
const decoder = compression === "gzip" ? zlib.createGunzip({ chunkSize: ANNOUNCE }) : zlib.createZstdDecompress({ chunkSize: ANNOUNCE })

let size = 0 // bytes read from the file
let readError
// the tar bytes, announced to the parent per MiB with the file bytes read so far
const tarBytes = new Uint8Array(out)
const tarRing = new RingWriter(tarBytes, (at, length) => parentPort.postMessage({ type: "chunk", at, length, read: size }), { every: ANNOUNCE, piece: ANNOUNCE })

/**
 * Decompression on this thread, synchronously, straight into the tar ring: the decoder's native
 * handle is called as node:zlib's own *Sync functions call it (handle.writeSync(flush, in, inOff,
 * inLen, out, outOff, outLen), the space left in _writeState), one input piece at a time. The
 * stream's asynchronous writes sent every piece through libuv's pool, with a fresh output buffer
 * per MiB, a callback and a copy into the ring. In-process extractions (Node 20, by hand) went
 * from 2.74-3.0 s of wall and 5.0-5.5 s of CPU to 2.29-2.31 s and 4.55-4.61 s on the libs layer
 * (peak RSS 160 to 123 MB), from ~3.5 s to 2.9 s on the large one, from 2.10-2.14 s to 1.92 s on
 * the 50,000 small files. Undefined where this Node's decoder lacks those internals, or
 * CAIRN_STREAM_DECODER=1 asks for the stream: the stream is used then.
 */
function syncInflater() {
  const handle = decoder._handle
  const state = decoder._writeState
  const { _defaultFlushFlag: more, _finishFlushFlag: finish } = decoder
  if (process.env.CAIRN_STREAM_DECODER === "1" || typeof handle?.writeSync !== "function" || !(state instanceof Uint32Array) || typeof more !== "number" || typeof finish !== "number") return undefined
  let failure
  // the handle reports a corrupt or truncated stream here, from inside writeSync
  handle.onerror = (message, errno, code) => {
    failure ??= Object.assign(new Error(message), { errno, code })
  }
  /** Decompresses all of `input` (and, with `end`, finishes the stream), waiting for ring space. */
  return async (input, end) => {
    let at = 0
    let left = input.length
    for (;;) {
      const room = await tarRing.reserve()
      handle.writeSync(end ? finish : more, input, at, left, tarBytes, room.at, room.length)
      if (failure !== undefined) throw new DecompressFailure(failure)
      const [availOut, availIn] = state
      tarRing.commit(room.length - availOut)
      at += left - availIn
      left = availIn
      // output room left over: the decoder took all it could of the input
      if (availOut !== 0) return
    }
  }
}
/** A failure of the decompressor inside syncInflater, told apart from the reads around it. */
class DecompressFailure extends Error {
  constructor(cause) {
    super(cause.message)
    this.cause = cause
  }
}
const inflate = syncInflater()
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
      const piece = slots.subarray(i * READ, i * READ + n)
      if (inflate !== undefined) await inflate(piece, false)
      else consumed[i] = new Promise((resolve) => decoder.write(piece, () => resolve()))
    }
    if (inflate !== undefined) await finishInflate()
    else decoder.end()
  } catch (e) {
    if (e instanceof DecompressFailure) throw e.cause
    readError = e
    decoder.destroy(e)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** A stream: each piece the parent copied in is hashed and decompressed in place, then given back. */
async function feedInput() {
  try {
    for (;;) {
      while (inputs.length === 0 && !inputEnded) await new Promise((r) => (inputWake = r))
      const m = inputs.shift()
      if (m === undefined) break
      size += m.length
      hasher?.update(m.at, m.length)
      const piece = slots.subarray(m.at, m.at + m.length)
      if (inflate === undefined) {
        decoder.write(piece, () => parentPort.postMessage({ type: "input-ack", bytes: m.length }))
        continue
      }
      await inflate(piece, false)
      parentPort.postMessage({ type: "input-ack", bytes: m.length })
    }
    if (inflate !== undefined) await finishInflate()
    else decoder.end()
  } catch (e) {
    throw e instanceof DecompressFailure ? e.cause : e
  }
}

/** The end of the input, with syncInflater: the decoder finishes (a truncated stream fails here). */
async function finishInflate() {
  await inflate(new Uint8Array(0), true)
  tarRing.flush()
}

async function drain() {
  for await (const c of decoder) await tarRing.write(c)
  tarRing.flush()
}

// No top-level await: the module finishes evaluating at once and the work runs in main()'s
// promises. A thread terminated while a module's top-level await is pending (a layer abandoned
// early: a failed or stopped download) can abort the whole process in V8: "Check failed:
// (location_) != nullptr" in SourceTextModule::ExecuteAsyncModule, seen once in a CI run of the
// engine's pull tests on Node 20 (the same check fails in nodejs/node#53238 and #60755).
async function main() {
  hasher = hash === undefined ? undefined : await ringHasher({ algorithm: hash.algorithm, backend: hash.backend, memory, module })
  try {
    await Promise.all([input === undefined ? feed() : feedInput(), inflate === undefined ? drain() : undefined])
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
}
void main()
