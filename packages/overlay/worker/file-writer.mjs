// A file-writer thread of @cairn/overlay (src/fileWriters.ts). It creates regular files from
// batches the applying thread packs: per record u32 path length, path bytes, u32 mode, f64 atime,
// f64 mtime, u32 data length, data bytes. Each file is open(O_EXCL|O_NOFOLLOW) + write + futimes +
// close, with its final mode (the applier only sends files whose owner and mode need nothing
// more). A name taken by a non-directory is replaced, as the applier does; a directory in the
// way, or any other failure, is sent back with the record for the applier to handle in order.
import { closeSync, constants, futimesSync, lstatSync, openSync, unlinkSync, writeSync } from "node:fs"
import { parentPort } from "node:worker_threads"

const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

function create(path, mode) {
  try {
    return openSync(path, FLAGS, mode)
  } catch (e) {
    if (e.code !== "EEXIST" || lstatSync(path).isDirectory()) throw e
    unlinkSync(path)
    return openSync(path, FLAGS, mode)
  }
}

parentPort.on("message", ({ id, batch, offset, size }) => {
  const bytes = Buffer.from(batch, offset, size)
  const view = new DataView(batch, offset, size)
  const failures = []
  let off = 0
  let index = 0
  while (off < bytes.length) {
    const start = off
    const pathLen = view.getUint32(off, true)
    const path = bytes.subarray(off + 4, off + 4 + pathLen)
    off += 4 + pathLen
    const mode = view.getUint32(off, true)
    const atime = view.getFloat64(off + 4, true)
    const mtime = view.getFloat64(off + 12, true)
    const dataLen = view.getUint32(off + 20, true)
    const data = bytes.subarray(off + 24, off + 24 + dataLen)
    off += 24 + dataLen
    try {
      const fd = create(path, mode)
      try {
        for (let w = 0; w < data.length; ) w += writeSync(fd, data, w, data.length - w)
        futimesSync(fd, atime, mtime)
      } finally {
        closeSync(fd)
      }
    } catch (e) {
      // a copy: the batch's memory goes back to be filled again
      failures.push({ index, code: e.code ?? "", message: e.message, record: Uint8Array.prototype.slice.call(bytes, start, off) })
    }
    index++
  }
  parentPort.postMessage({ id, failures, batch }, [batch])
})
