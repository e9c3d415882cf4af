// Blob upload sessions (distribution-spec v1.1 "Pushing blobs": POST / PATCH / PUT). A session's
// bytes live in a server-named file under <root>/api-uploads/ — never under a name from the
// request — and reach the store only at the closing PUT, through the caller's verified put, which
// checks size and digest before anything is visible. Sessions are in memory: a restart forgets them, and
// the next start removes the files a dead process left.
import { randomUUID } from "node:crypto"
import { createReadStream } from "node:fs"
import { mkdir, open, readdir, rm, stat, truncate } from "node:fs/promises"
import { join } from "node:path"
import { DistributionError } from "./errors.js"
import type { RegistryStore } from "./registryStore.js"

export interface UploadSession {
  readonly id: string
  readonly name: string
  readonly path: string
  size: number
  busy: boolean
  lastUsed: number
}

export interface UploadOptions {
  /** drop sessions idle for longer than this (default 15 min) */
  readonly timeoutMs: number
  /** largest blob a session may grow to */
  readonly maxBytes: number
  /** open sessions at most (default 1024): each holds a file until it ends or expires */
  readonly maxSessions?: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const unknownUpload = (id: string) =>
  new DistributionError({ status: 404, code: "BLOB_UPLOAD_UNKNOWN", reason: "no such upload session (expired, finished or never started)", detail: { uuid: id } })

export class UploadSessions {
  private readonly sessions = new Map<string, UploadSession>()
  private sweeper: NodeJS.Timeout | undefined
  readonly dir: string

  constructor(
    readonly store: RegistryStore,
    root: string,
    readonly options: UploadOptions
  ) {
    this.dir = join(root, "api-uploads")
  }

  /** Create the directory, remove files of dead processes, start the expiry sweeper. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    for (const f of await readdir(this.dir)) {
      const pid = Number(/^(\d+)-/.exec(f)?.[1])
      // another live server over this root keeps its sessions; anything else is debris
      const live = Number.isInteger(pid) && (pid === process.pid || pidAlive(pid))
      if (!live) await rm(join(this.dir, f), { force: true, recursive: true })
    }
    const every = Math.max(50, Math.min(30_000, Math.floor(this.options.timeoutMs / 2)))
    this.sweeper = setInterval(() => void this.sweep(), every)
    this.sweeper.unref()
  }

  get count(): number {
    return this.sessions.size
  }

  async create(name: string): Promise<UploadSession> {
    if (this.sessions.size >= (this.options.maxSessions ?? 1024)) {
      await this.sweep()
      if (this.sessions.size >= (this.options.maxSessions ?? 1024)) {
        throw new DistributionError({ status: 429, code: "TOOMANYREQUESTS", reason: "too many open upload sessions; finish or cancel some, or retry later" })
      }
    }
    const id = randomUUID()
    const path = join(this.dir, `${process.pid}-${id}`)
    const fh = await open(path, "wx", 0o600)
    await fh.close()
    const s: UploadSession = { id, name, path, size: 0, busy: false, lastUsed: Date.now() }
    this.sessions.set(id, s)
    return s
  }

  /**
   * The session `id` of repository `name`; BLOB_UPLOAD_UNKNOWN otherwise (ids are never paths). A
   * session idle past the timeout is gone here even if the sweeper has not run yet.
   */
  async get(id: string, name: string): Promise<UploadSession> {
    const now = Date.now()
    const s = UUID.test(id) ? this.sessions.get(id) : undefined
    if (!s || s.name !== name) throw unknownUpload(id)
    if (!s.busy && now - s.lastUsed > this.options.timeoutMs) {
      await this.drop(s)
      throw unknownUpload(id)
    }
    s.lastUsed = now
    return s
  }

  private claim(s: UploadSession): void {
    if (s.busy) {
      throw new DistributionError({ status: 416, code: "BLOB_UPLOAD_INVALID", reason: "another request is writing to this upload", detail: { uuid: s.id } })
    }
    s.busy = true
  }

  /** Append a chunk; on any failure the file is cut back so the session stays at its old offset. */
  async append(s: UploadSession, data: AsyncIterable<Uint8Array>): Promise<void> {
    this.claim(s)
    const before = s.size
    try {
      const fh = await open(s.path, "a")
      let size = before
      try {
        for await (const chunk of data) {
          size += chunk.length
          if (size > this.options.maxBytes) {
            throw new DistributionError({ status: 413, code: "SIZE_INVALID", reason: `blob larger than this server accepts (${this.options.maxBytes} bytes)` })
          }
          await fh.write(chunk)
        }
      } finally {
        await fh.close()
      }
      s.size = size
    } catch (e) {
      await truncate(s.path, before).catch(() => {})
      throw e
    } finally {
      s.busy = false
      s.lastUsed = Date.now()
    }
  }

  /**
   * Close the session: append `last` (the PUT body), then hand the bytes to `put`, which checks
   * them against the digest. The session ends either way (a wrong digest restarts the push).
   */
  async finish(
    s: UploadSession,
    last: AsyncIterable<Uint8Array> | undefined,
    put: (size: number, data: AsyncIterable<Uint8Array>) => Promise<void>
  ): Promise<{ size: number }> {
    if (last) await this.append(s, last)
    this.claim(s)
    try {
      const { size } = await stat(s.path)
      const bytes = createReadStream(s.path, { highWaterMark: 1 << 20 })
      try {
        await put(size, bytes)
      } finally {
        // `put` need not read it (the blob may be there already): close the file either way
        bytes.destroy()
      }
      return { size }
    } finally {
      await this.drop(s)
    }
  }

  async drop(s: UploadSession): Promise<void> {
    this.sessions.delete(s.id)
    await rm(s.path, { force: true })
  }

  /** Remove sessions idle past the timeout (never one a request is writing). */
  async sweep(now = Date.now()): Promise<number> {
    let n = 0
    for (const s of [...this.sessions.values()]) {
      if (!s.busy && now - s.lastUsed > this.options.timeoutMs) {
        await this.drop(s)
        n++
      }
    }
    return n
  }

  /** Shutdown: abandon every session; their bytes were never visible in the store. */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper)
    for (const s of [...this.sessions.values()]) await this.drop(s)
  }
}
