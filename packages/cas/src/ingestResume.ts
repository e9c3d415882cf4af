// Continuing an interrupted ingest: the ingest lock of a digest, waited for while another live
// writer makes progress, and the hash state of the bytes already held (saved, else re-read).
import { constants } from "node:fs"
import { open, readFile, stat } from "node:fs/promises"
import { createHasher, type Digest, digestAlgorithm, type Hasher, resumeHasher } from "@cairn/digest"
import { IngestBusyError } from "./errors.js"
import { CHUNK } from "./ingestWrite.js"
import { type LockHandle, tryLock } from "./lockFile.js"

/**
 * The ingest lock of `key`, waiting while a live holder keeps writing: IngestBusyError only when
 * the holder's partial file has not changed for `stallMs` (a hung writer), naming it.
 */
export async function waitForIngestLock(key: string, d: Digest, onWait: ((holder: string) => void) | undefined, stallMs: number): Promise<LockHandle> {
  let waiting = false
  let lastSeen = ""
  let lastChange = Date.now()
  let delay = 2
  for (;;) {
    const r = await tryLock(`${key}.lock`)
    if (r.handle) return r.handle
    const holder = r.holder ?? ""
    if (!waiting) {
      waiting = true
      onWait?.(holder)
    }
    const seen = await stat(key).then(
      (s) => `${s.size}:${s.mtimeMs}`,
      () => "none"
    )
    if (seen !== lastSeen) {
      lastSeen = seen
      lastChange = Date.now()
    } else if (Date.now() - lastChange >= stallMs) {
      throw new IngestBusyError({ digest: d, holder, stalledMs: Date.now() - lastChange })
    }
    await new Promise((r) => setTimeout(r, delay))
    delay = Math.min(delay * 2, 100)
  }
}

/** The hash state after `offset` bytes: from the state saved at interruption, else by re-reading. */
export async function rebuildHasher(key: string, d: Digest, offset: number): Promise<Hasher> {
  const alg = digestAlgorithm(d)
  try {
    const saved = JSON.parse(await readFile(`${key}.hashstate`, "utf8")) as { bytes: number; state: string }
    if (saved.bytes === offset) return await resumeHasher(alg, Buffer.from(saved.state, "base64"), offset)
  } catch {
    // none saved (the writer was killed): re-read below
  }
  const hasher = await createHasher(alg)
  if (offset === 0) return hasher
  const fh = await open(key, constants.O_RDONLY)
  try {
    const buf = Buffer.allocUnsafe(CHUNK)
    let pos = 0
    while (pos < offset) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, offset - pos), pos)
      if (bytesRead === 0) break
      hasher.update(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
  } finally {
    await fh.close()
  }
  return hasher
}
