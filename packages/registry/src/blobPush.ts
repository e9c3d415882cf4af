// Blob upload (distribution-spec "Pushing blobs"): HEAD first, cross-repository mount, then a
// monolithic PUT or PATCH chunks; a failed upload retries in a new session.
import { type Digest, SizeMismatchError } from "@cairn/digest"
import { Readable, Transform } from "node:stream"
import { repositoryScope } from "./auth.js"
import { type BlobProgress, statBlobAt } from "./blobPull.js"
import type { BlobDescriptor } from "./blobTransfer.js"
import { asRef, type ClientContext, type RepositoryRef } from "./context.js"
import { type Endpoint, registryError } from "./endpoint.js"
import { RegistryError } from "./errors.js"
import { parseRepository } from "./reference.js"
import { isRetryableUploadFailure, retryDelay, waitRetry } from "./retry.js"
import type { HttpResponse } from "./transport.js"

export interface PushBlobOptions {
  readonly signal?: AbortSignal
  /** try a cross-repository mount from these repositories (same registry) first */
  readonly mountFrom?: readonly string[]
  /** upload in PATCH chunks of this many bytes instead of one PUT */
  readonly chunkSize?: number
  readonly onProgress?: (p: BlobProgress) => void
}

export interface PushBlobResult {
  readonly how: "exists" | "mounted" | "uploaded"
}


/**
 * Pushes one blob: nothing when the registry has it (HEAD), a cross-repository mount when a
 * `mountFrom` repository has it, else an upload (one PUT, or PATCH chunks then PUT).
 */
export async function pushBlob(
  ctx: ClientContext,
  reference: RepositoryRef,
  desc: BlobDescriptor,
  open: () => Promise<AsyncIterable<Uint8Array>>,
  options: PushBlobOptions = {}
): Promise<PushBlobResult> {
  const ref = asRef(reference)
  const ep = ctx.endpoint(ref.registry)
  const signal = options.signal
  if ((await statBlobAt(ctx, ref, desc.digest, signal ? { signal } : {})) !== undefined) return { how: "exists" }
  const push = repositoryScope(ref.repository, "pull,push")
  let location: URL | undefined
  for (const from of options.mountFrom ?? []) {
    if (from === ref.repository) continue
    parseRepository(from)
    // distribution-spec "Mounting a blob from another repository"
    const res = await ep.send({
      method: "POST",
      path: `/v2/${ref.repository}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`,
      scopes: [push, repositoryScope(from, "pull")],
      signal
    })
    if (res.status === 201) {
      res.discard()
      return { how: "mounted" }
    }
    if (res.status !== 202) throw await registryError("POST", res)
    res.discard()
    // the registry opened an upload session instead; use it
    location = sessionLocation(ep, res)
    break
  }
  // An upload that fails midway leaves its session at an unknown offset: each retry opens a new
  // session (the transport does not resend upload bodies itself).
  const attempts = ctx.retry.attempts
  for (let attempt = 1; ; attempt++) {
    try {
      if (location === undefined) {
        const res = await ep.send({ method: "POST", path: `/v2/${ref.repository}/blobs/uploads/`, scopes: [push], signal })
        if (res.status !== 202) throw await registryError("POST", res)
        res.discard()
        location = sessionLocation(ep, res)
      }
      await upload(ep, location, desc, open, push, options)
      return { how: "uploaded" }
    } catch (e) {
      if (!isRetryableUploadFailure(e) || attempt >= attempts || signal?.aborted) throw e
      location = undefined
      await waitRetry(retryDelay(ctx.retry, attempt), signal)
    }
  }
}

async function upload(
  ep: Endpoint,
  location: URL,
  desc: BlobDescriptor,
  open: () => Promise<AsyncIterable<Uint8Array>>,
  push: string,
  options: PushBlobOptions
): Promise<void> {
  const signal = options.signal
  const chunk = options.chunkSize
  if (chunk !== undefined && chunk > 0 && desc.size > chunk) {
    location = await uploadChunks(ep, location, desc, await open(), chunk, push, options)
    const done = withDigest(location, desc.digest)
    const res = await ep.send({ method: "PUT", path: done.href, scopes: [push], signal, retry: false })
    if (res.status !== 201) throw await registryError("PUT", res)
    res.discard()
  } else {
    const done = withDigest(location, desc.digest)
    const onProgress = options.onProgress
    const res = await ep.send({
      method: "PUT",
      path: done.href,
      headers: { "content-type": "application/octet-stream" },
      body: async () => {
        const data = Readable.from(await open(), { objectMode: false })
        if (!onProgress) return data
        let n = 0
        return data.pipe(
          new Transform({
            transform(c: Buffer, _e, cb) {
              n += c.length
              onProgress({ digest: desc.digest, bytes: n, size: desc.size })
              cb(null, c)
            }
          })
        )
      },
      bodyLength: desc.size,
      scopes: [push],
      signal,
      retry: false
    })
    if (res.status !== 201) throw await registryError("PUT", res)
    res.discard()
  }
}

function sessionLocation(ep: Endpoint, res: HttpResponse): URL {
  const loc = res.header("location")
  if (loc === undefined) throw new RegistryError({ method: "POST", url: res.url.href, status: res.status, code: "NO_LOCATION", detail: "upload session without a Location header" })
  return new URL(loc, ep.base)
}

// distribution-spec "Pushing a blob in chunks": PATCH with Content-Range <start>-<end>, each
// answer's Location is the next URL.
async function uploadChunks(
  ep: Endpoint,
  start: URL,
  desc: BlobDescriptor,
  data: AsyncIterable<Uint8Array>,
  chunkSize: number,
  scope: string,
  options: PushBlobOptions
): Promise<URL> {
  let location = start
  let offset = 0
  const send = async (chunk: Buffer) => {
    const res = await ep.send({
      method: "PATCH",
      path: location.href,
      headers: {
        "content-type": "application/octet-stream",
        "content-range": `${offset}-${offset + chunk.length - 1}`
      },
      body: chunk,
      scopes: [scope],
      signal: options.signal,
      retry: false
    })
    if (res.status !== 202) throw await registryError("PATCH", res)
    res.discard()
    location = new URL(res.header("location") ?? location.href, ep.base)
    offset += chunk.length
    options.onProgress?.({ digest: desc.digest, bytes: offset, size: desc.size })
  }
  let pending: Buffer[] = []
  let pendingBytes = 0
  for await (const c of data) {
    let buf = Buffer.from(c.buffer, c.byteOffset, c.byteLength)
    while (pendingBytes + buf.length >= chunkSize) {
      const take = chunkSize - pendingBytes
      pending.push(buf.subarray(0, take))
      await send(Buffer.concat(pending, chunkSize))
      buf = buf.subarray(take)
      pending = []
      pendingBytes = 0
    }
    if (buf.length > 0) {
      pending.push(Buffer.from(buf)) // copy: the source may reuse its buffer
      pendingBytes += buf.length
    }
  }
  if (pendingBytes > 0) await send(Buffer.concat(pending, pendingBytes))
  if (offset !== desc.size) throw new SizeMismatchError({ expected: desc.size, actual: offset, early: offset > desc.size })
  return location
}

function withDigest(location: URL, digest: Digest): URL {
  const u = new URL(location.href)
  u.searchParams.set("digest", digest)
  return u
}
