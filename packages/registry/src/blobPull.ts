// Blob download: HEAD, GET with Range, and the resume state machine that pulls one blob into a
// sink (skip when present, resume after a cut, start over after a bad prefix, verify before the end).
import { type Digest, DigestMismatchError, digestAlgorithm, nodeBackend, SizeMismatchError } from "@cairn/digest"
import { Readable } from "node:stream"
import { repositoryScope } from "./auth.js"
import type { BlobDescriptor, BlobSink } from "./blobTransfer.js"
import { asRef, type ClientContext, type RepositoryRef } from "./context.js"
import { registryError } from "./endpoint.js"
import { BlobSinkError, ContentLengthError, RegistryError, TransportError } from "./errors.js"
import { isRegistryFailure } from "./failure.js"
import { viaRoutes } from "./mirrors.js"
import type { Reference } from "./reference.js"
import { isNetworkCut } from "./retry.js"
import type { HttpResponse } from "./transport.js"

/** `bytes <start>-<end>/<total|*>` (RFC 9110 14.4). */
function parseContentRange(v: string | undefined): { start: number; end: number } | undefined {
  const m = v === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim())
  return m ? { start: Number(m[1]), end: Number(m[2]) } : undefined
}

export interface BlobProgress {
  readonly digest: Digest
  /** bytes of this blob held so far, including a resumed prefix */
  readonly bytes: number
  readonly size: number
}

export interface PullBlobOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (p: BlobProgress) => void
  /** also hash on our side before the sink sees the end (default true; the sink verifies regardless) */
  readonly verify?: boolean
}

export interface PullBlobResult {
  readonly skipped: boolean
  /** bytes received from the network for this blob */
  readonly transferred: number
  /** offset the transfer resumed from (0 when it started fresh) */
  readonly resumedFrom: number
}


/** HEAD of a blob: its size, or undefined when the repository does not have it. */
export async function statBlob(ctx: ClientContext, reference: RepositoryRef, digest: Digest, options: { signal?: AbortSignal } = {}): Promise<{ size: number } | undefined> {
  const ref = asRef(reference)
  return viaRoutes(ctx, ref, true, (r) => statBlobAt(ctx, r, digest, options), { signal: options.signal, missing: (h) => h === undefined })
}

/** statBlob at one place, without the registries configuration. */
export async function statBlobAt(ctx: ClientContext, ref: Reference, digest: Digest, options: { signal?: AbortSignal } = {}): Promise<{ size: number } | undefined> {
  const res = await ctx.endpoint(ref.registry).send({
    method: "HEAD",
    path: `/v2/${ref.repository}/blobs/${digest}`,
    scopes: [repositoryScope(ref.repository, "pull")],
    signal: options.signal
  })
  res.discard()
  if (res.status === 404) return undefined
  if (res.status !== 200) throw await registryError("HEAD", res)
  return { size: Number(res.header("content-length") ?? "NaN") }
}

/**
 * GETs a blob (from `offset` with a Range request). `offset` in the result is where the body
 * really starts: 0 when the registry ignored the range. Redirects to storage are followed.
 */
export async function openBlob(
  ctx: ClientContext,
  reference: RepositoryRef,
  desc: BlobDescriptor,
  options: { offset?: number; signal?: AbortSignal; lend?: boolean } = {}
): Promise<{ body: Readable; offset: number; response: HttpResponse }> {
  const ref = asRef(reference)
  return viaRoutes(ctx, ref, true, (r) => openBlobAt(ctx, r, desc, options), { signal: options.signal })
}

/**
 * openBlob at one place, without the registries configuration. `lend`: a big body's chunks are
 * lent (see HttpRequest.lend), for a reader that gives every one back and keeps none after.
 */
export async function openBlobAt(
  ctx: ClientContext,
  ref: Reference,
  desc: BlobDescriptor,
  options: { offset?: number; signal?: AbortSignal; lend?: boolean } = {}
): Promise<{ body: Readable; offset: number; response: HttpResponse }> {
  const offset = options.offset ?? 0
  const res = await ctx.endpoint(ref.registry).send({
    method: "GET",
    path: `/v2/${ref.repository}/blobs/${desc.digest}`,
    headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    scopes: [repositoryScope(ref.repository, "pull")],
    expectBytes: desc.size - offset,
    lend: options.lend === true,
    signal: options.signal
  })
  let start = 0
  if (res.status === 206 && offset > 0) {
    const cr = parseContentRange(res.header("content-range"))
    // a 206 for some other range would splice wrong bytes in: refuse it
    if (cr === undefined || cr.start !== offset || cr.end !== desc.size - 1) {
      res.body.destroy()
      throw new RegistryError({ method: "GET", url: res.url.href, status: 206, code: "RANGE_MISMATCH", detail: `asked for bytes ${offset}-, got Content-Range ${res.header("content-range") ?? "(none)"}` })
    }
    start = offset
  } else if (res.status !== 200) {
    throw await registryError("GET", res)
  }
  const cl = res.header("content-length")
  if (cl !== undefined && Number(cl) !== desc.size - start) {
    res.body.destroy()
    throw new ContentLengthError({ url: res.url.href, digest: desc.digest, expected: desc.size - start, announced: Number(cl) })
  }
  return { body: res.body, offset: start, response: res }
}

/**
 * Pulls one blob into a sink: skipped when the sink has it; resumed with Range from the sink's
 * ingest offset after a cut; size (and by default digest) checked before the sink sees the end,
 * so a bad blob never becomes visible.
 */
export async function pullBlob(ctx: ClientContext, reference: RepositoryRef, desc: BlobDescriptor, sink: BlobSink, options: PullBlobOptions = {}): Promise<PullBlobResult> {
  const ref = asRef(reference)
  return viaRoutes(ctx, ref, true, (r) => pullBlobAt(ctx, r, desc, sink, options), { signal: options.signal })
}

/** pullBlob at one place, without the registries configuration. */
export async function pullBlobAt(ctx: ClientContext, ref: Reference, desc: BlobDescriptor, sink: BlobSink, options: PullBlobOptions = {}): Promise<PullBlobResult> {
  if (await sinkCall(desc.digest, () => sink.has(desc.digest))) return { skipped: true, transferred: 0, resumedFrom: 0 }
  const attempts = ctx.retry.attempts
  let transferred = 0
  let firstOffset: number | undefined
  // after a bad download of this digest the sink's ingest holds bad bytes: never resume onto them
  let canResume = sink.ingestOffset !== undefined && sink.resume !== undefined && !ctx.badIngest.has(desc.digest)
  for (let attempt = 1; ; attempt++) {
    let offset = canResume ? await sinkCall(desc.digest, () => sink.ingestOffset!(desc.digest)) : 0
    if (offset > desc.size) offset = 0
    firstOffset ??= offset
    let sourceError: unknown
    const counted = { n: 0 }
    try {
      let data: AsyncIterable<Uint8Array>
      if (offset === desc.size) data = Readable.from([])
      else {
        let opened: Awaited<ReturnType<typeof openBlobAt>>
        try {
          // a sink that gives chunks back (the store) is lent them: the download reuses its memory
          opened = await openBlobAt(ctx, ref, desc, { offset, lend: sink.acceptsLent === true, ...(options.signal ? { signal: options.signal } : {}) })
        } catch (e) {
          // a lying Content-Length or a mangled range may be a proxy's hiccup: retry, then report it
          if ((e instanceof ContentLengthError || (e instanceof RegistryError && e.code === "RANGE_MISMATCH")) && attempt < attempts) continue
          throw e
        }
        offset = opened.offset
        data = await checked(opened.body, desc, offset, counted, options)
      }
      data = trackErrors(data, (e) => (sourceError = e))
      const r =
        offset > 0 && sink.resume
          ? await sink.resume(desc, offset, data)
          : await sink.put(desc, data)
      transferred += counted.n
      void r
      ctx.badIngest.delete(desc.digest)
      return { skipped: false, transferred, resumedFrom: firstOffset }
    } catch (e) {
      transferred += counted.n
      if (sourceError === undefined) {
        // a resumed blob that fails the sink's check had a bad prefix (e.g. from a corrupt earlier
        // download): start over once from byte 0, which `put` does by contract
        if (offset > 0 && canResume && (e instanceof DigestMismatchError || e instanceof SizeMismatchError) && attempt < attempts) {
          canResume = false
          continue
        }
        // the request or the sink failed by itself; typed failures (the sink's own verification
        // errors included) pass through as they are
        if (isRegistryFailure(e)) throw e
        if (options.signal?.aborted) throw options.signal.reason ?? e
        throw new BlobSinkError({ digest: desc.digest, reason: (e as Error)?.message ?? String(e), cause: e })
      }
      if (options.signal?.aborted) throw options.signal.reason ?? sourceError
      // a cut connection (or a body that ended short) resumes; anything else is final
      const short = sourceError instanceof SizeMismatchError && !sourceError.early
      if (!short && (sourceError instanceof DigestMismatchError || sourceError instanceof SizeMismatchError)) ctx.badIngest.add(desc.digest)
      if ((isNetworkCut(sourceError) || short) && attempt < attempts) continue
      if (isNetworkCut(sourceError)) {
        throw new TransportError({ method: "GET", url: `${ref.registry}/${ref.repository}@${desc.digest}`, reason: (sourceError as Error).message, attempts: attempt })
      }
      throw sourceError
    }
  }
}

async function sinkCall<T>(digest: Digest, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    throw e instanceof BlobSinkError ? e : new BlobSinkError({ digest, reason: (e as Error)?.message ?? String(e), cause: e })
  }
}

/**
 * Wraps a response body: counts, reports progress, enforces the size, and (on a fresh transfer)
 * hashes. A generator, not a stream chain, so nothing sits in intermediate buffers when the
 * connection drops: what the sink got is all that was received, and the resume starts there.
 * A failed check throws before the iteration ends, so the sink never sees a clean end.
 */
async function checked(
  body: Readable,
  desc: BlobDescriptor,
  offset: number,
  counted: { n: number },
  options: PullBlobOptions
): Promise<AsyncIterable<Uint8Array>> {
  const remaining = desc.size - offset
  const onProgress = options.onProgress
  // the sink verifies too; this catches a bad blob even with a trusting sink (node:crypto: fast path)
  const hasher = offset > 0 || options.verify === false ? undefined : await nodeBackend.create(digestAlgorithm(desc.digest))
  return (async function* () {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      counted.n += chunk.length
      if (counted.n > remaining) {
        body.destroy()
        throw new SizeMismatchError({ expected: desc.size, actual: offset + counted.n, early: true })
      }
      hasher?.update(chunk)
      onProgress?.({ digest: desc.digest, bytes: offset + counted.n, size: desc.size })
      yield chunk
    }
    if (counted.n !== remaining) throw new SizeMismatchError({ expected: desc.size, actual: offset + counted.n, early: false })
    const actual = hasher?.digest()
    if (actual !== undefined && actual !== desc.digest) throw new DigestMismatchError({ expected: desc.digest, actual, bytes: desc.size })
  })()
}

async function* trackErrors(data: AsyncIterable<Uint8Array>, onError: (e: unknown) => void): AsyncGenerator<Uint8Array> {
  try {
    yield* data
  } catch (e) {
    onError(e)
    throw e
  }
}
