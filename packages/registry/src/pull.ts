// Pulling an image: resolve, then config and layers N at a time into the sink, then the manifests
// (last, so a store never holds a manifest whose blobs are missing).
import type { Digest } from "@cairn/digest"
import { asOciIndex, type Descriptor, isIndexMediaType, type PlatformLike } from "@cairn/oci-spec/lazy"
import * as Effect from "effect/Effect"
import { Readable } from "node:stream"
import type { BlobDescriptor, BlobSink } from "./blobTransfer.js"
import type { BlobProgress, FetchedManifest, PullBlobResult, RegistryClient, RepositoryRef, ResolvedImage } from "./client.js"
import { BlobCompleteHookError, BlobSinkError, UnsupportedManifestError } from "./errors.js"
import { attempt, isRegistryFailure, type RegistryFailure } from "./failure.js"
import { parseReference, type Reference } from "./reference.js"

export interface PullOptions {
  /** the platform to take from an index (default: the host's) */
  readonly platform?: PlatformLike | string
  /** blobs downloaded at once (default 4) */
  readonly concurrency?: number
  /** called once the manifest is known, before any blob moves (e.g. to draw progress bars) */
  readonly onResolved?: (resolved: ResolvedImage) => void
  /** bytes per blob as they arrive */
  readonly onProgress?: (p: BlobProgress) => void
  /**
   * Called as soon as a blob is complete in the sink (or found there), while other blobs still
   * download: the engine starts extracting a layer here. Not awaited before the next download; the
   * pull waits for every returned promise before it finishes, and fails if one rejects.
   */
  readonly onBlobComplete?: (desc: Descriptor, info: { readonly skipped: boolean }) => void | Promise<void>
  /** hash on the client side too (default true); the sink verifies regardless */
  readonly verify?: boolean
  /** also store the manifests (and the index) in the sink (default true) */
  readonly storeManifests?: boolean
}

export interface PulledBlob extends PullBlobResult {
  readonly descriptor: Descriptor
}

export interface PullResult {
  readonly resolved: ResolvedImage
  /** the digest the reference resolved to (the index's when it is one) */
  readonly digest: Digest
  readonly blobs: readonly PulledBlob[]
  /** blob bytes that crossed the network */
  readonly bytesTransferred: number
}

const manifestDescriptor = (m: FetchedManifest): BlobDescriptor => ({ digest: m.digest, size: m.size, mediaType: m.mediaType })

/** Puts a fetched manifest (or index) into the sink unless it is there; a sink's own failure becomes a BlobSinkError. */
const storeManifest = (sink: BlobSink, m: FetchedManifest): Effect.Effect<void, RegistryFailure> =>
  attempt(async () => {
    try {
      if (!(await sink.has(m.digest))) await sink.put(manifestDescriptor(m), Readable.from([m.bytes]))
    } catch (e) {
      throw isRegistryFailure(e) ? e : new BlobSinkError({ digest: m.digest, reason: (e as Error)?.message ?? String(e), cause: e })
    }
  })

/** Effect form of {@link pullImage}: bounded concurrency, typed failures, interruption stops every download. */
export const pullImageEffect = (
  client: RegistryClient,
  reference: RepositoryRef,
  sink: BlobSink,
  options: PullOptions = {}
): Effect.Effect<PullResult, RegistryFailure> =>
  Effect.gen(function* () {
    const ref = typeof reference === "string" ? yield* attempt(async () => parseReference(reference)) : reference
    const resolved = yield* attempt((signal) => client.resolve(ref, { signal, ...(options.platform === undefined ? {} : { platform: options.platform }) }))
    options.onResolved?.(resolved)
    const seen = new Set<string>()
    const wanted = [resolved.image.config, ...resolved.image.layers].filter((d) => !seen.has(d.digest) && seen.add(d.digest))
    const hooks: Array<Promise<void>> = []
    let hookFailure: BlobCompleteHookError | undefined
    const blobs = yield* Effect.forEach(
      wanted,
      (desc) =>
        Effect.gen(function* () {
          if (hookFailure) return yield* Effect.fail(hookFailure)
          const r = yield* attempt((signal) =>
            client.pullBlob(ref, desc, sink, {
              signal,
              ...(options.onProgress ? { onProgress: options.onProgress } : {}),
              ...(options.verify === undefined ? {} : { verify: options.verify })
            })
          )
          if (options.onBlobComplete) {
            const hook = options.onBlobComplete
            hooks.push(
              Promise.resolve()
                .then(() => hook(desc, { skipped: r.skipped }))
                .catch((cause) => {
                  hookFailure ??= new BlobCompleteHookError({ digest: desc.digest, cause })
                })
            )
          }
          return { ...r, descriptor: desc } satisfies PulledBlob
        }),
      { concurrency: Math.max(1, options.concurrency ?? 4) }
    )
    yield* Effect.promise(() => Promise.all(hooks))
    if (hookFailure) return yield* Effect.fail(hookFailure)
    if (options.storeManifests !== false) {
      const docs = resolved.root.digest === resolved.manifest.digest ? [resolved.manifest] : [resolved.manifest, resolved.root]
      for (const m of docs) yield* storeManifest(sink, m)
    }
    return {
      resolved,
      digest: resolved.root.digest,
      blobs,
      bytesTransferred: blobs.reduce((n, b) => n + b.transferred, 0)
    }
  })

/**
 * Pulls `reference` into `sink`: only blobs the sink lacks cross the network, each verified before
 * it becomes visible, interrupted ones resumed. Rejects with one of {@link RegistryFailure}.
 */
export const pullImage = (
  client: RegistryClient,
  reference: RepositoryRef,
  sink: BlobSink,
  options: PullOptions & { readonly signal?: AbortSignal } = {}
): Promise<PullResult> =>
  Effect.runPromise(pullImageEffect(client, reference, sink, options), options.signal ? { signal: options.signal } : undefined)

export interface PullAllResult {
  /** the root as fetched (an index, or the one manifest of a single-platform image) */
  readonly root: FetchedManifest
  /** every image manifest pulled, each with its blobs */
  readonly images: readonly PullResult[]
  /** blob bytes that crossed the network */
  readonly bytesTransferred: number
}

/** Indexes nest (an index of indexes is legal); deeper than this is refused as a loop or an abuse. */
const MAX_INDEX_DEPTH = 4

/**
 * Effect form of {@link pullAllPlatforms}: every image an index names (each platform, attestation
 * manifests too), one after another, each with `concurrency` blobs at once; nested indexes and the
 * root are stored last, once everything below them is in the sink. A single-platform reference pulls
 * as {@link pullImageEffect} does.
 */
export const pullAllPlatformsEffect = (
  client: RegistryClient,
  reference: RepositoryRef,
  sink: BlobSink,
  options: Omit<PullOptions, "platform" | "onResolved" | "storeManifests"> = {}
): Effect.Effect<PullAllResult, RegistryFailure> =>
  Effect.gen(function* () {
    const ref = typeof reference === "string" ? yield* attempt(async () => parseReference(reference)) : reference
    const root = yield* attempt((signal) => client.getManifest(ref, { signal }))
    const images: Array<PullResult> = []
    // an index may name one manifest many times (or nested indexes share children): each is pulled once
    const seen = new Set<string>()
    const walk = (index: FetchedManifest, depth: number): Effect.Effect<void, RegistryFailure> =>
      Effect.gen(function* () {
        for (const child of asOciIndex(index.document)?.manifests ?? []) {
          if (seen.has(child.digest)) continue
          seen.add(child.digest)
          const pinned: Reference = { ...ref, digest: child.digest }
          if (!isIndexMediaType(child.mediaType)) {
            // an image manifest (a platform's, or an attestation's): its blobs, then itself
            images.push(yield* pullImageEffect(client, pinned, sink, options))
            continue
          }
          if (depth + 1 >= MAX_INDEX_DEPTH) {
            return yield* Effect.fail(new UnsupportedManifestError({ url: `${ref.registry}/${ref.repository}@${child.digest}`, mediaType: `${child.mediaType} nested ${MAX_INDEX_DEPTH} indexes deep` }))
          }
          yield* walk(yield* attempt((signal) => client.getManifest(pinned, { signal })), depth + 1)
        }
        yield* storeManifest(sink, index)
      })
    if (asOciIndex(root.document) !== undefined) yield* walk(root, 0)
    else images.push(yield* pullImageEffect(client, { ...ref, digest: root.digest }, sink, options))
    return { root, images, bytesTransferred: images.reduce((n, i) => n + i.bytesTransferred, 0) }
  })

/**
 * Pulls every platform of `reference` into `sink` (`skopeo copy --all`, `ctr pull --all-platforms`):
 * what the sink holds is skipped, each blob verified before it is visible, the index stored last.
 */
export const pullAllPlatforms = (
  client: RegistryClient,
  reference: RepositoryRef,
  sink: BlobSink,
  options: Omit<PullOptions, "platform" | "onResolved" | "storeManifests"> & { readonly signal?: AbortSignal } = {}
): Promise<PullAllResult> =>
  Effect.runPromise(pullAllPlatformsEffect(client, reference, sink, options), options.signal ? { signal: options.signal } : undefined)
