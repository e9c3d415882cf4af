// Cross-process lock on a file name. Node has no flock(2), so a lock is a file created atomically
// (link(2) of a fully written temp file, which fails with EEXIST when held) naming its holder:
// pid + process start time + nonce. A holder killed with SIGKILL leaves the file behind; a
// waiter that finds the holder's process gone breaks the lock by renaming it aside and checking
// that what it moved is the stale file it saw.
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { link, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { tempFilePid } from "./atomicFile.js"
import { LockTimeoutError } from "./errors.js"

export interface LockHandle {
  readonly path: string
  release(): Promise<void>
}

export interface LockOptions {
  /** give up with LockTimeoutError after this long (default 60 s) */
  readonly timeoutMs?: number
  /** stop waiting for the lock when this aborts */
  readonly signal?: AbortSignal
}

let selfStart: string | undefined
/** Field 22 of /proc/<pid>/stat (start time in clock ticks); tells a reused pid from the original. */
function startTime(pid: number): string | undefined {
  if (pid === process.pid && selfStart !== undefined) return selfStart
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // comm (field 2) may contain spaces and parentheses: fields after the last ")" are fixed
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const start = rest[19]
    if (pid === process.pid) selfStart = start
    return start
  } catch {
    return undefined
  }
}

/** True while the process that wrote `token` runs (same pid and, where /proc says, same start time). */
export function holderAlive(token: string): boolean {
  const [pidText, start] = token.trim().split(" ")
  const pid = Number(pidText)
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  if (start === undefined || start === "-") return true
  const now = startTime(pid)
  return now === undefined || now === start
}

function makeToken(): string {
  return `${process.pid} ${startTime(process.pid) ?? "-"} ${randomBytes(8).toString("hex")}\n`
}

async function readToken(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
}

/** Remove a lock whose holder is dead; safe against two breakers racing (see file comment). */
async function breakStale(path: string, seen: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(6).toString("hex")}`
  try {
    await rename(path, aside)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return
    throw e
  }
  const moved = await readToken(aside)
  if (moved !== seen) {
    // someone broke it first and a live holder took it since: put theirs back
    await link(aside, path).catch(() => {})
  }
  await unlink(aside).catch(() => {})
}

/** Take the lock once; undefined when a live process holds it (its token in `holder`). */
export async function tryLock(path: string): Promise<{ handle?: LockHandle; holder?: string }> {
  const token = makeToken()
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
  await writeFile(tmp, token, { mode: 0o644 })
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await link(tmp, path)
        return { handle: { path, release: () => releaseLock(path, token) } }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      }
      const holder = await readToken(path)
      if (holder === undefined) continue // released between link and read
      if (holderAlive(holder)) return { holder: holder.trim() }
      await breakStale(path, holder)
    }
    return { holder: "(lock kept changing hands)" }
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

async function releaseLock(path: string, token: string): Promise<void> {
  // only remove the file if it is still ours (a stale-breaker may have taken it after a long pause)
  if ((await readToken(path)) === token) await unlink(path).catch(() => {})
}

/**
 * Wait for the lock, polling with backoff; breaks locks left by dead processes. `signal` stops
 * the wait (rejecting with its reason); a lock taken as it fires is released, never kept.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<LockHandle> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const started = Date.now()
  let delay = 1
  for (;;) {
    options.signal?.throwIfAborted()
    const r = await tryLock(path)
    if (r.handle) {
      if (options.signal?.aborted === true) {
        await r.handle.release()
        options.signal.throwIfAborted()
      }
      return r.handle
    }
    const waited = Date.now() - started
    if (waited >= timeoutMs) throw new LockTimeoutError({ path, holder: r.holder ?? "", waitedMs: waited })
    // an aborted sleep rejects with an AbortError: the wait ends with the signal's own reason
    await sleep(delay + Math.random() * delay, undefined, options.signal === undefined ? undefined : { signal: options.signal }).catch((e: unknown) => {
      options.signal?.throwIfAborted()
      throw e
    })
    delay = Math.min(delay * 2, 25)
  }
}

// Callers in one process queue here instead of polling the file against each other.
const localQueues = new Map<string, Promise<void>>()

/**
 * Take the lock, queued behind this process's other holders of it; the handle releases it (and
 * lets the next in the queue go). For a holder whose work is not one Promise (an Effect's scope).
 */
export function holdLock(path: string, options?: LockOptions): Promise<LockHandle> {
  const before = localQueues.get(path) ?? Promise.resolve()
  let done!: () => void
  const tail = new Promise<void>((resolve) => {
    done = resolve
  })
  localQueues.set(path, tail)
  void tail.then(() => {
    if (localQueues.get(path) === tail) localQueues.delete(path)
  })
  const waited = options?.signal === undefined ? before : Promise.race([before, abortion(options.signal)])
  return waited.then(() => acquireLock(path, options)).then(
    (lock) => ({
      path,
      release: () => lock.release().finally(done)
    }),
    (e: unknown) => {
      // the next in the queue waits for what this one waited for, not for this one
      void before.then(done)
      throw e
    }
  )
}

const abortion = (signal: AbortSignal) =>
  new Promise<void>((_, reject) => {
    if (signal.aborted) reject(signal.reason)
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true })
  })

/** Run `f` holding the lock; the lock is released however `f` ends. */
export async function withLock<T>(path: string, f: () => Promise<T>, options?: LockOptions): Promise<T> {
  const lock = await holdLock(path, options)
  try {
    return await f()
  } finally {
    await lock.release()
  }
}

/** Remove a lock file whose holder is dead (safe against a live process taking it meanwhile). */
export async function removeIfStale(path: string): Promise<boolean> {
  const token = await readToken(path)
  if (token === undefined || holderAlive(token)) return false
  await breakStale(path, token)
  return true
}

/** Remove lock temp files and stale-break leftovers written by processes that are gone. */
export async function cleanLockDebris(dir: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  for (const name of names) {
    const pid = tempFilePid(name) ?? /\.stale-(\d+)-[0-9a-f]+$/.exec(name)?.[1]
    if (pid !== undefined && !holderAlive(`${pid}`)) await unlink(join(dir, name)).catch(() => {})
  }
}
