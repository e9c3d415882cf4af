// Cross-process locks under ROOT/locks. A lock is a file made by link(2) of a fully written
// token file (atomic, fails with EEXIST when held); a holder killed by SIGKILL leaves the file,
// and the next waiter that finds the pid gone breaks it.
import { randomBytes } from "node:crypto"
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { pidAlive } from "./atomic.js"
import { LockTimeoutError } from "./errors.js"

const readToken = (path: string) => readFile(path, "utf8").catch(() => undefined)

async function tryLock(path: string, token: string): Promise<string | undefined> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`
  await writeFile(tmp, token)
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        await link(tmp, path)
        return undefined
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      }
      const holder = await readToken(path)
      if (holder === undefined) continue
      if (pidAlive(Number(holder.split(" ")[0]))) return holder.trim()
      // stale: move it aside, and put it back if what we moved is no longer what we saw
      const aside = `${path}.stale-${process.pid}-${randomBytes(6).toString("hex")}`
      if (await rename(path, aside).then(() => true, () => false)) {
        if ((await readToken(aside)) !== holder) await link(aside, path).catch(() => {})
        await unlink(aside).catch(() => {})
      }
    }
    return "(lock kept changing hands)"
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/** Runs `f` holding ROOT/locks/<name>.lock; released however `f` ends. */
export async function withLock<T>(locksDir: string, name: string, f: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const path = join(locksDir, `${name}.lock`)
  const token = `${process.pid} ${randomBytes(8).toString("hex")}\n`
  const started = Date.now()
  let delay = 2
  for (;;) {
    const holder = await tryLock(path, token)
    if (holder === undefined) break
    const waited = Date.now() - started
    if (waited >= timeoutMs) throw new LockTimeoutError({ path, holder, waitedMs: waited })
    await sleep(delay + Math.random() * delay)
    delay = Math.min(delay * 2, 50)
  }
  try {
    return await f()
  } finally {
    if ((await readToken(path)) === token) await unlink(path).catch(() => {})
  }
}
