// Pushing an image (or an index and all its images) from a blob source: blobs first (skipping what
// the registry has, mounting what a sibling repository has), manifests after their blobs, the
// tagged root last, so a tag never names something incomplete.
import type { Digest } from "@cairn/digest"
import { type AnyManifest, asOciIndex, type Descriptor, decodeAnyManifest, dockerToOciManifest } from "@cairn/oci-spec/lazy"
import * as Effect from "effect/Effect"
import type { BlobSource } from "./blobTransfer.js"
import type { BlobProgress, PushBlobResult, RegistryClient, RepositoryRef } from "./client.js"
import { BlobNotFoundError, ManifestTooLargeError } from "./errors.js"
import { attempt, type RegistryFailure } from "./failure.js"
import { parseReference, type Reference } from "./reference.js"

export interface PushOptions {
  /** blobs uploaded at once (default 4) */
  readonly concurrency?: number
  /** repositories on the same registry to mount blobs from before uploading */
  readonly mountFrom?: readonly string[]
  /** PATCH chunk size; one monolithic PUT per blob when unset */
  readonly chunkSize?: number
  readonly onProgress?: (p: BlobProgress) => void
}

export interface PushResult {
  /** digest of the root manifest/index as pushed */
  readonly digest: Digest
  readonly blobs: ReadonlyArray<{ readonly descriptor: Descriptor } & PushBlobResult>
  readonly manifests: readonly Digest[]
}

async function readManifest(source: BlobSource, digest: Digest, limit: number): Promise<{ bytes: Uint8Array; doc: AnyManifest }> {
  const st = await source.stat(digest)
  if (st === undefined) throw new BlobNotFoundError({ digest })
  if (st.size > limit) throw new ManifestTooLargeError({ url: `source:${digest}`, limit, size: st.size })
  const chunks: Buffer[] = []
  for await (const c of await source.open(digest)) chunks.push(Buffer.from(c))
  const bytes = Buffer.concat(chunks)
  return { bytes, doc: await decodeAnyManifest(bytes) }
}

/** Effect form of {@link pushImage}. */
export const pushImageEffect = (
  client: RegistryClient,
  source: BlobSource,
  root: Digest,
  target: RepositoryRef,
  options: PushOptions = {}
): Effect.Effect<PushResult, RegistryFailure> =>
  Effect.gen(function* () {
    const ref: Reference = typeof target === "string" ? yield* attempt(async () => parseReference(target)) : target
    const blobs: Array<{ descriptor: Descriptor } & PushBlobResult> = []
    const manifests: Digest[] = []
    const done = new Set<string>()

    const pushManifest = (digest: Digest, tagged: boolean): Effect.Effect<void, RegistryFailure> =>
      Effect.gen(function* () {
        const { bytes, doc } = yield* attempt(() => readManifest(source, digest, client.manifestLimit))
        const index = asOciIndex(doc)
        if (index !== undefined) {
          for (const child of index.manifests) yield* pushManifest(child.digest, false)
        } else if (doc.kind === "manifest" || doc.kind === "docker-manifest") {
          const m = doc.kind === "manifest" ? doc.value : dockerToOciManifest(doc.value)
          const todo = [m.config, ...m.layers].filter((d) => !done.has(d.digest) && done.add(d.digest))
          const pushed = yield* Effect.forEach(
            todo,
            (d) =>
              attempt(async (signal) => {
                if ((await source.stat(d.digest)) === undefined) throw new BlobNotFoundError({ digest: d.digest })
                const r = await client.pushBlob(ref, d, () => source.open(d.digest), {
                  signal,
                  ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
                  ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
                  ...(options.onProgress ? { onProgress: options.onProgress } : {})
                })
                return { descriptor: d, ...r }
              }),
            { concurrency: Math.max(1, options.concurrency ?? 4) }
          )
          blobs.push(...pushed)
        }
        const mediaType = (doc.value as { mediaType?: string }).mediaType ?? "application/vnd.oci.image.manifest.v1+json"
        // children go by digest; the root by the target's tag (or digest when it has none)
        const at: Reference = tagged && ref.tag !== undefined && ref.digest === undefined ? ref : { registry: ref.registry, repository: ref.repository, digest }
        const pushedDigest = yield* attempt(() => client.putManifest(at, { bytes, mediaType }))
        manifests.push(pushedDigest)
      })

    yield* pushManifest(root, true)
    return { digest: root, blobs, manifests }
  })

/**
 * Pushes the manifest (or index) `root` and everything it references from `source` to `target`
 * (`registry/repo:tag`). Rejects with one of {@link RegistryFailure}.
 */
export const pushImage = (
  client: RegistryClient,
  source: BlobSource,
  root: Digest,
  target: RepositoryRef,
  options: PushOptions & { readonly signal?: AbortSignal } = {}
): Promise<PushResult> =>
  Effect.runPromise(pushImageEffect(client, source, root, target, options), options.signal ? { signal: options.signal } : undefined)
