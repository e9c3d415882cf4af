// Layer blobs from the store applied by @cairn/overlay: overlay form into a snapshot dir,
// flat form onto a rootfs. The blob digest and the diffID are both verified on the way.
import { createReadStream } from "node:fs"
import { pipeline, Readable, Transform } from "node:stream"
import type { Digest } from "@cairn/digest"
import { layerCompression } from "@cairn/oci-spec/lazy"
import { applyLayer, detectCompression, fileCompression, OFF_THREAD_MIN_BYTES, settleImplicitDirs } from "@cairn/overlay"
import { LayerMediaTypeError } from "./errors.js"
import { isHostRoot } from "./userns.js"
import type { ImageStore, LayerDescriptor } from "./store.js"

const compressionName = { gzip: "gzip", zstd: "zstd", none: "no compression (a plain tar)" } as const

/**
 * The layer's blob, checked against its media type before a byte reaches the extractor: an
 * unknown media type is refused (never extracted by sniffing), and the first bytes must be the
 * compression the media type declares. Every extraction (snapshots, unpack, bundle) opens layers here.
 */
export async function openLayer(store: ImageStore, layer: LayerDescriptor, bytes?: LayerBytes): Promise<Readable> {
  const declared = declaredCompression(layer)
  // a stream of chunks is read as it is (a Readable around it would join chunks it holds into copies)
  const blob: AsyncIterable<Uint8Array> =
    bytes === undefined ? await store.open(layer.digest) : typeof bytes === "string" ? createReadStream(bytes) : bytes
  // the first bytes are judged before anything reaches the extractor: a refused layer writes nothing
  const it = blob[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let head = Buffer.alloc(0)
  let ended = false
  try {
    while (head.length < 4) {
      const r = await it.next()
      if (r.done === true) {
        ended = true
        break
      }
      head = Buffer.concat([head, r.value])
    }
    const found = detectCompression(head)
    if (head.length > 0 && found !== declared) throw mismatch(layer, declared, found)
  } catch (e) {
    if (blob instanceof Readable) blob.destroy()
    else void it.return?.()?.catch(() => {})
    throw e
  }
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head
    if (ended) return
    for (;;) {
      const r = await it.next()
      if (r.done === true) return
      yield r.value
    }
  }
  return Readable.from(rest(), { objectMode: false })
}

function declaredCompression(layer: LayerDescriptor) {
  const declared = layerCompression(layer.mediaType)
  if (declared === undefined) {
    throw new LayerMediaTypeError({
      layer: layer.digest,
      mediaType: layer.mediaType,
      reason: "not a layer media type cairn can extract (OCI or Docker tar, tar+gzip, tar+zstd); the image can be stored, copied and pushed, not unpacked"
    })
  }
  return declared
}

/**
 * A layer big enough for @cairn/overlay's reader thread, as the file that holds it (a stored blob,
 * or a source's file), its first bytes checked against the media type as openLayer does; undefined
 * for a small layer, a stream, or a store without files (then openLayer's stream is used).
 */
async function layerFile(store: ImageStore, layer: LayerDescriptor, bytes?: LayerBytes): Promise<string | undefined> {
  if (layer.size < OFF_THREAD_MIN_BYTES) return undefined
  const declared = declaredCompression(layer)
  const path = typeof bytes === "string" ? bytes : bytes === undefined ? await store.blobFile?.(layer.digest) : undefined
  if (path === undefined) return undefined
  let found: ReturnType<typeof fileCompression>
  try {
    found = fileCompression(path)
  } catch (e) {
    // gone since (a concurrent gc): openLayer reports it as the store does
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
  if (found !== declared) throw mismatch(layer, declared, found)
  return path
}

const mismatch = (layer: LayerDescriptor, declared: keyof typeof compressionName, found: keyof typeof compressionName) =>
  new LayerMediaTypeError({
    layer: layer.digest,
    mediaType: layer.mediaType,
    reason: `the media type declares ${compressionName[declared]} but the bytes are ${compressionName[found]}`
  })

/**
 * `source` through `counting(onBytes)`: unlike `.pipe()`, a failure of the source (a cut download,
 * a read error) reaches the consumer instead of leaving it waiting for bytes that never come.
 */
export const counted = (source: Readable, onBytes: (n: number) => void): Readable => {
  const counter = counting(onBytes)
  pipeline(source, counter, () => {})
  return counter
}

export const counting = (onBytes: (n: number) => void) => {
  let n = 0
  let last = 0
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length
      // at most one event per MiB: progress, not a per-chunk callback storm
      if (n - last >= 1 << 20) {
        last = n
        onBytes(n)
      }
      cb(null, chunk)
    },
    flush(cb) {
      onBytes(n)
      cb()
    }
  })
}

export interface ExtractOptions {
  /**
   * The store verified this blob's digest while this process put it there, moments ago (a pull
   * extracting each layer as its blob completes): hash the tar for its diffID only. A blob of
   * unknown age (already in the store, imported earlier) leaves this unset and is checked against
   * both digests.
   */
  readonly blobJustVerified?: boolean
  /**
   * The blob's bytes as they arrive, instead of the store's copy (a pull extracting a layer while
   * it downloads): the store's put beside it checks the digest, so only the diffID is hashed here.
   */
  readonly source?: AsyncIterable<Uint8Array>
  /**
   * The lower snapshots do not exist yet (a pull extracting every layer as it downloads, @cairn/overlay
   * OverlayFormOptions.lowersLater): `lowers` is ignored, the result names the parent directories
   * made without an entry of their own, and `settleLayer` gives them their lower metadata once the
   * lowers exist. A hardlink to a file only a lower layer can hold fails with LowersNeededError.
   */
  readonly lowersLater?: boolean
}

/** What an extraction leaves to do: with `lowersLater`, the parents to settle against the lowers. */
export interface ExtractedLayer {
  readonly implicitDirs?: ReadonlyArray<Buffer[]>
}

/** Finishes an extraction made with `lowersLater`, now that its lower snapshots (top first) exist. */
export function settleLayer(target: string, lowers: ReadonlyArray<string>, extracted: ExtractedLayer): void {
  if (extracted.implicitDirs === undefined || extracted.implicitDirs.length === 0) return
  settleImplicitDirs(target, lowers, extracted.implicitDirs, isHostRoot())
}

export async function extractLayer(
  store: ImageStore,
  layer: LayerDescriptor,
  diffId: Digest,
  target: string,
  onBytes: (n: number) => void,
  lowers: ReadonlyArray<string> = [],
  options: ExtractOptions = {}
): Promise<ExtractedLayer> {
  const file = options.source === undefined ? await layerFile(store, layer) : undefined
  const bytes = file ?? counted(await openLayer(store, layer, options.source), onBytes)
  const later = options.lowersLater === true
  const result = await applyLayer(bytes, target, {
    ...(file === undefined ? {} : { onBytes }),
    form: "overlay",
    // unprivileged processes (also uid 0 inside `cairn unshare`) cannot write trusted.* xattrs nor
    // make 0/0 devices: their (rootless, userxattr) mounts read user.overlay.* and xattr whiteouts
    ...(isHostRoot()
      ? { overlay: { lowers: later ? [] : lowers, lowersLater: later, xattrNamespace: "trusted" as const } }
      : { overlay: { lowers: later ? [] : lowers, lowersLater: later, xattrNamespace: "user" as const, whiteout: "xattr" as const }, rootless: true }),
    // the diffID is always verified: the store only ever checked the compressed bytes
    expectedDiffId: diffId,
    ...(options.blobJustVerified === true || options.source !== undefined ? {} : { expectedDigest: layer.digest }),
    // the digests on the other core, beside decompression and writes, when the layer is big enough
    hashOffThread: layer.size >= OFF_THREAD_MIN_BYTES
  })
  return result.implicitDirs === undefined ? {} : { implicitDirs: result.implicitDirs }
}

/** The bytes of a layer blob: a stream or a file path (a source's blob read where it lies, not from the store). */
export type LayerBytes = AsyncIterable<Uint8Array> | string

export async function applyFlat(
  store: ImageStore,
  layer: LayerDescriptor,
  diffId: Digest,
  target: string,
  source?: () => Promise<LayerBytes>
): Promise<void> {
  const bytes = source === undefined ? undefined : await source()
  const blob = (await layerFile(store, layer, bytes)) ?? (await openLayer(store, layer, bytes))
  await applyLayer(blob, target, {
    form: "flat",
    expectedDiffId: diffId,
    expectedDigest: layer.digest,
    hashOffThread: layer.size >= OFF_THREAD_MIN_BYTES
  })
}
