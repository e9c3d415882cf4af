// The Effect API: a ContentStore service over the same Store the Promise facade exposes. Every
// method fails with the typed errors of the package (CasError); byte streams stay Node streams.
import type { Readable, Writable } from "node:stream"
import type { Digest } from "@cairn/digest"
import type { Descriptor } from "@cairn/oci-spec/lazy"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { ExportImage } from "./archiveExport.js"
import type { ImportOptions, ImportReport } from "./archiveImport.js"
import type { BlobDescriptorLike, BlobInfo, BlobInput, Expected, GetOptions, PutResult } from "./blobStore.js"
import type { CopyReport, CopyRoot } from "./copy.js"
import { type CasError, isCasError } from "./casErrors.js"
import { StoreIoError } from "./errors.js"
import type { FsckOptions, FsckReport } from "./fsck.js"
import type { GcOptions, GcReport } from "./gc.js"
import type { WalkOptions, WalkResult } from "./graph.js"
import type { OpenOptions } from "./layout.js"
import type { Lease, LeaseOptions } from "./leases.js"
import { Store } from "./store.js"
import type { TagEntry, TagTarget } from "./tags.js"

export type { CasError } from "./casErrors.js"

/** Typed errors pass through; a Node system error becomes StoreIoError; anything else is a defect. */
function toCasError(e: unknown): CasError {
  if (isCasError(e)) return e
  const sys = e as NodeJS.ErrnoException | null
  if (sys && typeof sys.code === "string") return new StoreIoError({ code: sys.code, path: sys.path ?? "", reason: sys.message })
  throw e
}

const lift = <A>(f: () => Promise<A>): Effect.Effect<A, CasError> =>
  Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
    Effect.catch((e) => {
      try {
        return Effect.fail(toCasError(e))
      } catch {
        return Effect.die(e)
      }
    })
  )

export interface ContentStoreShape {
  /** the Promise facade underneath (same files, same locks) */
  readonly store: Store
  readonly put: (data: BlobInput, expected?: Expected) => Effect.Effect<PutResult, CasError>
  readonly putDescriptor: (desc: BlobDescriptorLike, data: BlobInput, options?: { lease?: string }) => Effect.Effect<PutResult, CasError>
  readonly ingestOffset: (digest: Digest | string) => Effect.Effect<number, CasError>
  readonly resume: (desc: BlobDescriptorLike, offset: number, data: BlobInput, options?: { lease?: string }) => Effect.Effect<PutResult, CasError>
  readonly get: (digest: Digest | string, options?: GetOptions) => Effect.Effect<Readable, CasError>
  readonly read: (digest: Digest | string, maxBytes?: number) => Effect.Effect<Uint8Array, CasError>
  readonly stat: (digest: Digest | string) => Effect.Effect<{ size: number } | undefined, CasError>
  readonly has: (digest: Digest | string) => Effect.Effect<boolean, CasError>
  readonly delete: (digest: Digest | string) => Effect.Effect<boolean, CasError>
  readonly list: Effect.Effect<BlobInfo[], CasError>
  readonly tag: (name: string, target: TagTarget) => Effect.Effect<Descriptor, CasError>
  readonly untag: (name: string) => Effect.Effect<boolean, CasError>
  readonly resolve: (name: string) => Effect.Effect<Descriptor, CasError>
  readonly tags: Effect.Effect<TagEntry[], CasError>
  readonly walk: (roots: readonly Descriptor[], options?: WalkOptions) => Effect.Effect<WalkResult, CasError>
  /** a lease released when the scope closes */
  readonly lease: (options?: LeaseOptions) => Effect.Effect<Lease, CasError, Scope.Scope>
  readonly gc: (options?: GcOptions) => Effect.Effect<GcReport, CasError>
  readonly fsck: (options?: FsckOptions) => Effect.Effect<FsckReport, CasError>
  readonly copyTo: (target: Store, refs: readonly (string | CopyRoot)[]) => Effect.Effect<CopyReport, CasError>
  readonly importArchive: (input: string | AsyncIterable<Uint8Array> | Readable, options?: ImportOptions) => Effect.Effect<ImportReport, CasError>
  readonly exportOciArchive: (refs: readonly (string | ExportImage)[], out: string | Writable) => Effect.Effect<void, CasError>
  readonly exportDockerArchive: (refs: readonly (string | ExportImage)[], out: string | Writable) => Effect.Effect<void, CasError>
}

/** The ContentStore service built over an open Store. */
export function makeContentStore(store: Store): ContentStoreShape {
  return {
    store,
    put: (data, expected) => lift(() => store.put(data, expected)),
    putDescriptor: (desc, data, options) => lift(() => store.put(desc, data, options)),
    ingestOffset: (digest) => lift(() => store.ingestOffset(digest)),
    resume: (desc, offset, data, options) => lift(() => store.resume(desc, offset, data, options)),
    get: (digest, options) => lift(() => store.get(digest, options)),
    read: (digest, maxBytes) => lift(() => store.read(digest, maxBytes)),
    stat: (digest) => lift(() => store.stat(digest)),
    has: (digest) => lift(() => store.has(digest)),
    delete: (digest) => lift(() => store.delete(digest)),
    list: lift(async () => {
      const out: BlobInfo[] = []
      for await (const b of store.list()) out.push(b)
      return out
    }),
    tag: (name, target) => lift(() => store.tag(name, target)),
    untag: (name) => lift(() => store.untag(name)),
    resolve: (name) => lift(() => store.resolve(name)),
    tags: lift(() => store.tags()),
    walk: (roots, options) => lift(() => store.walk(roots, options)),
    lease: (options) =>
      Effect.acquireRelease(lift(() => store.createLease(options)), (l) => lift(() => store.releaseLease(l.id)).pipe(Effect.ignore)),
    gc: (options) => lift(() => store.gc(options)),
    fsck: (options) => lift(() => store.fsck(options)),
    copyTo: (target, refs) => lift(() => store.copyTo(target, refs)),
    importArchive: (input, options) => lift(() => store.importArchive(input, options)),
    exportOciArchive: (refs, out) => lift(() => store.exportOciArchive(refs, out)),
    exportDockerArchive: (refs, out) => lift(() => store.exportDockerArchive(refs, out))
  }
}

/** Open (or create) a layout as an Effect. */
export const openStore = (dir: string, options?: OpenOptions): Effect.Effect<Store, CasError> => lift(() => Store.open(dir, options))

export class ContentStore extends Context.Service<ContentStore, ContentStoreShape>()("@cairn/cas/ContentStore") {
  /** A layer opening (or creating) the layout at `dir`. */
  static layer(dir: string, options?: OpenOptions): Layer.Layer<ContentStore, CasError> {
    return Layer.effect(ContentStore, Effect.map(openStore(dir, options), makeContentStore))
  }
  /** A layer over a Store already open (shares it with Promise callers). */
  static fromStore(store: Store): Layer.Layer<ContentStore> {
    return Layer.succeed(ContentStore, makeContentStore(store))
  }
}
