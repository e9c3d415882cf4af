// The Effect service: one RegistryClient behind a Context.Service, its connections closed with the layer.
import type { Digest } from "@cairn/digest"
import type { ImageIndex, PlatformLike } from "@cairn/oci-spec/lazy"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { BlobDescriptor, BlobSink, BlobSource } from "./blobTransfer.js"
import {
  type FetchedManifest,
  type PullBlobOptions,
  type PullBlobResult,
  type PushBlobOptions,
  type PushBlobResult,
  RegistryClient,
  type RegistryClientOptions,
  type RepositoryRef,
  type ResolvedImage
} from "./client.js"
import { copyImageEffect } from "./copy.js"
import { attempt, type RegistryFailure } from "./failure.js"
import { type PullOptions, type PullResult, pullImageEffect } from "./pull.js"
import { type PushOptions, type PushResult, pushImageEffect } from "./push.js"

export interface RegistryShape {
  readonly client: RegistryClient
  readonly resolve: (ref: RepositoryRef, options?: { platform?: PlatformLike | string }) => Effect.Effect<ResolvedImage, RegistryFailure>
  readonly getManifest: (ref: RepositoryRef) => Effect.Effect<FetchedManifest, RegistryFailure>
  readonly headManifest: (ref: RepositoryRef) => Effect.Effect<{ digest: Digest | undefined; size: number; mediaType: string | undefined } | undefined, RegistryFailure>
  readonly statBlob: (ref: RepositoryRef, digest: Digest) => Effect.Effect<{ size: number } | undefined, RegistryFailure>
  readonly pullBlob: (ref: RepositoryRef, desc: BlobDescriptor, sink: BlobSink, options?: Omit<PullBlobOptions, "signal">) => Effect.Effect<PullBlobResult, RegistryFailure>
  readonly pushBlob: (
    ref: RepositoryRef,
    desc: BlobDescriptor,
    open: () => Promise<AsyncIterable<Uint8Array>>,
    options?: Omit<PushBlobOptions, "signal">
  ) => Effect.Effect<PushBlobResult, RegistryFailure>
  readonly putManifest: (ref: RepositoryRef, manifest: { bytes: Uint8Array; mediaType: string }) => Effect.Effect<Digest, RegistryFailure>
  readonly pull: (ref: RepositoryRef, sink: BlobSink, options?: PullOptions) => Effect.Effect<PullResult, RegistryFailure>
  readonly push: (source: BlobSource, root: Digest, target: RepositoryRef, options?: PushOptions) => Effect.Effect<PushResult, RegistryFailure>
  readonly copy: (from: RepositoryRef, to: RepositoryRef, options?: PushOptions) => Effect.Effect<PushResult, RegistryFailure>
  readonly listTags: (ref: RepositoryRef, options?: { pageSize?: number }) => Effect.Effect<string[], RegistryFailure>
  readonly referrers: (ref: RepositoryRef, digest: Digest, options?: { artifactType?: string }) => Effect.Effect<ImageIndex, RegistryFailure>
}

/** The registry client as an Effect service; `Registry.layer(options)` owns one client. */
export class Registry extends Context.Service<Registry, RegistryShape>()("@cairn/registry/Registry") {
  static readonly make = (client: RegistryClient): RegistryShape =>
    Registry.of({
      client,
      resolve: (ref, options = {}) => attempt((signal) => client.resolve(ref, { ...options, signal })),
      getManifest: (ref) => attempt((signal) => client.getManifest(ref, { signal })),
      headManifest: (ref) => attempt((signal) => client.headManifest(ref, { signal })),
      statBlob: (ref, digest) => attempt((signal) => client.statBlob(ref, digest, { signal })),
      pullBlob: (ref, desc, sink, options = {}) => attempt((signal) => client.pullBlob(ref, desc, sink, { ...options, signal })),
      pushBlob: (ref, desc, open, options = {}) => attempt((signal) => client.pushBlob(ref, desc, open, { ...options, signal })),
      putManifest: (ref, manifest) => attempt((signal) => client.putManifest(ref, manifest, { signal })),
      pull: (ref, sink, options) => pullImageEffect(client, ref, sink, options),
      push: (source, root, target, options) => pushImageEffect(client, source, root, target, options),
      copy: (from, to, options) => copyImageEffect(client, from, to, options),
      listTags: (ref, options = {}) => attempt((signal) => client.listTags(ref, { ...options, signal })),
      referrers: (ref, digest, options = {}) => attempt((signal) => client.referrers(ref, digest, { ...options, signal }))
    })

  static readonly layer = (options: RegistryClientOptions = {}): Layer.Layer<Registry> =>
    Layer.effect(
      Registry,
      Effect.acquireRelease(
        Effect.sync(() => new RegistryClient(options)),
        (client) => Effect.sync(() => client.close())
      ).pipe(Effect.map(Registry.make))
    )
}
