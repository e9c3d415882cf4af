/**
 * Applying a layer: the byte pipeline (source -> blob digest -> decompress -> diffID -> tar
 * reader) that feeds each entry to the per-entry applier (entryApplier.ts), with the digests
 * checked at the end. DESIGN.md "The hot path".
 */
import { createReadStream, mkdirSync, statSync } from "node:fs"
import {
  type Algorithm,
  createHasher,
  type Digest,
  DigestErrors,
  defaultBackend,
  digestAlgorithm,
  errorGuard,
  formatDigest,
  OFF_THREAD_MIN_BYTES,
  OffThreadHasher
} from "@cairn/digest"
import type { ApplyOptions, ApplyResult } from "./applyOptions.js"
import { type Compression, decompress, sniffCompression } from "./compression.js"
import { LayerApplier } from "./entryApplier.js"
import { fileCompression, LayerReader, readerDecompresses } from "./layerReader.js"
import {
  ApplyEntryError,
  DecompressionError,
  DiffIdMismatchError,
  LayerDigestMismatchError,
  LowersNeededError,
  TarChecksumError,
  TarFormatError,
  TarTruncatedError,
  UnsafeEntryError
} from "./errors.js"
import { readTar } from "./tar/reader.js"

const toSource = (s: AsyncIterable<Uint8Array> | string): AsyncIterable<Uint8Array> =>
  typeof s === "string" ? createReadStream(s, { highWaterMark: 1 << 20 }) : s

/**
 * Apply one OCI layer (image-spec layer.md) to `target`, streaming: source bytes -> digest ->
 * decompress -> diffID -> tar -> filesystem. Writes go straight into `target`; a caller that must
 * not expose a half-applied or unverified layer extracts into a temporary directory and renames it.
 */
export async function applyLayer(
  source: AsyncIterable<Uint8Array> | string,
  target: string,
  options: ApplyOptions = {}
): Promise<ApplyResult> {
  const wantDigest = options.computeDigest === true || options.expectedDigest !== undefined
  const tarAlg = options.expectedDiffId ? digestAlgorithm(options.expectedDiffId) : "sha256"
  const blobAlg = options.expectedDigest ? digestAlgorithm(options.expectedDigest) : "sha256"
  // Hashing on the calling thread, or each digest on its own worker (the two chains run at once).
  const offThread = options.hashOffThread ?? offThreadByDefault(source)
  const backendName = (options.hasher ?? defaultBackend).name
  const workers: OffThreadHasher[] = []
  let applier: LayerApplier | undefined
  const startWorker = async (alg: Algorithm) => {
    const w = await OffThreadHasher.start(alg, options.hasher)
    workers.push(w)
    return w
  }
  let reader: LayerReader | undefined
  try {
    // Off the calling thread, a gzip (or native zstd) layer is read, hashed and decompressed on a
    // thread of its own (layerReader.ts): a file by the thread itself, a stream through a ring.
    let input = source
    let readerCompression: Compression | undefined
    if (offThread) {
      const blobHash = wantDigest ? { algorithm: blobAlg, backend: backendName } : undefined
      const sniffed = typeof source === "string" ? { compression: fileCompression(source), source } : await sniffCompression(source)
      input = sniffed.source
      if (readerDecompresses(sniffed.compression, options.zstd)) {
        readerCompression = sniffed.compression
        reader = typeof input === "string" ? LayerReader.file(input, readerCompression, blobHash) : LayerReader.stream(input, readerCompression, blobHash)
      }
    }
    // With node:crypto behind a reader thread the diffID hashes here: at ~1.7 GB/s the copy into a
    // worker's ring and its messages cost more than the hashing (by hand: large layer 1.67 s
    // against 1.94, libs 3.26 s of CPU against 3.43, the 50,000 small files no slower)
    const tarHere = reader !== undefined && backendName === "node"
    const [offTar, offBlob] = offThread
      ? await Promise.all([tarHere ? undefined : startWorker(tarAlg), wantDigest && reader === undefined ? startWorker(blobAlg) : undefined])
      : []
    const blobHasher = wantDigest && !offBlob && reader === undefined ? await createHasher(blobAlg, options.hasher) : undefined
    const tarHasher = offTar ? undefined : await createHasher(tarAlg, options.hasher)
    let size = 0
    let hashBlob = wantDigest
    // progress at most once per MiB of source bytes, and once at the end
    let reported = 0
    const progress = (n: number) => {
      if (options.onBytes === undefined || n - reported < 1 << 20) return
      reported = n
      options.onBytes(n)
    }
    async function* counted() {
      for await (const c of toSource(input)) {
        size += c.byteLength
        progress(size)
        if (hashBlob) {
          if (offBlob) await offBlob.update(c)
          else blobHasher!.update(c)
        }
        yield c
      }
    }
    const { compression, data } =
      reader !== undefined
        ? { compression: readerCompression!, data: reader.chunks(progress) }
        : await decompress(counted(), options.zstd === undefined ? {} : { zstd: options.zstd })
    // A plain tar is its own blob: hash it once, as the diffID (when both use one algorithm).
    const blobIsTar = wantDigest && compression === "none" && blobAlg === tarAlg
    if (blobIsTar) hashBlob = false
    async function* hashedTar() {
      for await (const c of data) {
        if (offTar) await offTar.update(c)
        else tarHasher!.update(c)
        yield c
      }
    }
    mkdirSync(target, { recursive: true })
    applier = new LayerApplier(target, options)
    let entries = 0
    for await (const entry of readTar(hashedTar())) {
      await applier.apply(entry)
      entries++
    }
    await applier.finish()
    let diffId: Digest
    let tarSize: number
    if (offTar) {
      diffId = await offTar.digest()
      tarSize = offTar.bytes
    } else {
      diffId = tarHasher!.digest()
      tarSize = tarHasher!.bytes
    }
    let digest: Digest | undefined
    if (reader !== undefined) {
      size = reader.result.size
      if (reader.result.hex !== undefined) digest = formatDigest(blobAlg, reader.result.hex)
    } else if (blobIsTar) digest = diffId
    else if (offBlob) digest = await offBlob.digest()
    else digest = blobHasher?.digest()
    if (size !== reported) options.onBytes?.(size)
    if (options.expectedDigest !== undefined && digest !== options.expectedDigest)
      throw new LayerDigestMismatchError({ expected: options.expectedDigest, actual: digest!, bytes: size })
    if (options.expectedDiffId !== undefined && diffId !== options.expectedDiffId)
      throw new DiffIdMismatchError({ expected: options.expectedDiffId, actual: diffId })
    const result: ApplyResult = { diffId, compression, size, tarSize, entries, warnings: applier.warnings }
    if (digest !== undefined) result.digest = digest
    const implicitDirs = applier.implicitDirs()
    if (implicitDirs !== undefined) result.implicitDirs = implicitDirs
    return result
  } finally {
    // the writer threads are stopped before a failure is reported: nothing is written after it
    await Promise.all([...workers.map((w) => w.close()), applier?.close(), reader?.close()])
  }
}

/** Layers at least this big hash on workers by default (@cairn/digest's threshold). */
export { OFF_THREAD_MIN_BYTES }

/** Off-thread hashing by default for big layer files; callers streaming a blob of known size pass hashOffThread themselves. */
function offThreadByDefault(source: AsyncIterable<Uint8Array> | string): boolean {
  if (typeof source !== "string") return false
  try {
    return statSync(source).size >= OFF_THREAD_MIN_BYTES
  } catch {
    return false
  }
}

/** Apply layers bottom first into one directory (what `umoci raw unpack` produces). */
export async function applyLayers(
  sources: ReadonlyArray<AsyncIterable<Uint8Array> | string>,
  target: string,
  options: Omit<ApplyOptions, "expectedDiffId" | "expectedDigest" | "form"> & { expectedDiffIds?: readonly Digest[] } = {}
): Promise<ApplyResult[]> {
  const out: ApplyResult[] = []
  for (const [i, s] of sources.entries()) {
    const { expectedDiffIds, ...rest } = options
    const exp = expectedDiffIds?.[i]
    out.push(await applyLayer(s, target, exp === undefined ? rest : { ...rest, expectedDiffId: exp }))
  }
  return out
}

/** What applying a layer fails with: the tar, decompression and safety checks, both digests, an entry's I/O. */
export const ApplyLayerErrors = [
  TarChecksumError,
  TarTruncatedError,
  TarFormatError,
  DecompressionError,
  UnsafeEntryError,
  LowersNeededError,
  ApplyEntryError,
  DiffIdMismatchError,
  LayerDigestMismatchError,
  ...DigestErrors
] as const

export type ApplyLayerError = InstanceType<(typeof ApplyLayerErrors)[number]>

export const isApplyLayerError = errorGuard(ApplyLayerErrors)
