// Registry-to-registry copy without a store in between: a repository seen as a BlobSource, fed to
// the push path, so blobs stream from one registry into the other (or are mounted, same registry).
import type { Digest } from "@cairn/digest"
import * as Effect from "effect/Effect"
import { Readable } from "node:stream"
import type { BlobSource } from "./blobTransfer.js"
import type { FetchedManifest, RegistryClient, RepositoryRef } from "./client.js"
import { RegistryError } from "./errors.js"
import { attempt, type RegistryFailure } from "./failure.js"
import { type PushOptions, type PushResult, pushImageEffect } from "./push.js"
import { parseReference, type Reference } from "./reference.js"

/**
 * A repository as a BlobSource: blobs come from /blobs/, manifests (which pushImage reads by
 * digest too) from /manifests/, verified against their digest.
 */
export function registrySource(client: RegistryClient, repository: RepositoryRef, options: { signal?: AbortSignal } = {}): BlobSource {
  const ref = typeof repository === "string" ? parseReference(repository) : repository
  const repo: Reference = { registry: ref.registry, repository: ref.repository }
  const manifests = new Map<string, FetchedManifest>()
  const signal = options.signal ? { signal: options.signal } : {}
  const manifest = async (digest: Digest): Promise<FetchedManifest | undefined> => {
    const cached = manifests.get(digest)
    if (cached) return cached
    try {
      const m = await client.getManifest({ ...repo, digest }, signal)
      manifests.set(digest, m)
      return m
    } catch (e) {
      if (e instanceof RegistryError && e.status === 404) return undefined
      throw e
    }
  }
  return {
    async stat(digest) {
      if (manifests.has(digest)) return { size: manifests.get(digest)!.size }
      return (await client.statBlob(repo, digest, signal)) ?? (await manifest(digest).then((m) => m && { size: m.size }))
    },
    async open(digest) {
      const m = manifests.get(digest)
      if (m) return Readable.from([m.bytes])
      const st = await client.statBlob(repo, digest, signal)
      if (st === undefined) {
        const fetched = await manifest(digest)
        if (fetched) return Readable.from([fetched.bytes])
        throw new RegistryError({ method: "GET", url: `${repo.registry}/${repo.repository}@${digest}`, status: 404, code: "BLOB_UNKNOWN" })
      }
      // the push side checks size and digest on arrival at the target registry (PUT ?digest=)
      const opened = await client.openBlob(repo, { digest, size: st.size }, signal)
      return opened.body
    }
  }
}

/** Effect form of {@link copyImage}. */
export const copyImageEffect = (
  client: RegistryClient,
  from: RepositoryRef,
  to: RepositoryRef,
  options: PushOptions = {}
): Effect.Effect<PushResult, RegistryFailure> =>
  Effect.gen(function* () {
    const src = typeof from === "string" ? yield* attempt(async () => parseReference(from)) : from
    const dst = typeof to === "string" ? yield* attempt(async () => parseReference(to)) : to
    const root = yield* attempt((signal) => client.getManifest(src, { signal }))
    const source = registrySource(client, src)
    // same registry: let it mount blobs from the source repository instead of copying bytes
    const mountFrom = src.registry === dst.registry && src.repository !== dst.repository ? [src.repository, ...(options.mountFrom ?? [])] : options.mountFrom
    return yield* pushImageEffect(client, primed(source, root), root.digest, dst, { ...options, ...(mountFrom ? { mountFrom } : {}) })
  })

/** The root manifest is already fetched and checked: serve it from memory. */
function primed(source: BlobSource, root: FetchedManifest): BlobSource {
  return {
    stat: (d) => (d === root.digest ? Promise.resolve({ size: root.size }) : source.stat(d)),
    open: (d) => (d === root.digest ? Promise.resolve(Readable.from([root.bytes])) : source.open(d))
  }
}

/**
 * Copies an image (an index with all its platforms, or one manifest) from one reference to
 * another, streaming blobs registry to registry, skipping what the target has.
 */
export const copyImage = (
  client: RegistryClient,
  from: RepositoryRef,
  to: RepositoryRef,
  options: PushOptions & { readonly signal?: AbortSignal } = {}
): Promise<PushResult> => Effect.runPromise(copyImageEffect(client, from, to, options), options.signal ? { signal: options.signal } : undefined)
