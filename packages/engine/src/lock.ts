// Cross-process locks under ROOT/locks: @cairn/cas's lock file (link(2) of a written token,
// stale locks of dead holders broken by the next waiter), so the engine and the store share one
// implementation. Only the timeout and the error differ: a cas LockTimeoutError is re-raised as
// the engine's, whose message points at a stuck cairn command.
import { join } from "node:path"
import { LockTimeoutError as CasLockTimeoutError, withLock as casWithLock } from "@cairn/cas"
import { LockTimeoutError } from "./errors.js"

/** Runs `f` holding ROOT/locks/<name>.lock; released however `f` ends. */
export async function withLock<T>(locksDir: string, name: string, f: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const path = join(locksDir, `${name}.lock`)
  try {
    return await casWithLock(path, f, { timeoutMs })
  } catch (e) {
    // only this lock's timeout: one of the store's own locks timing out inside `f` passes as it is
    if (e instanceof CasLockTimeoutError && e.path === path) throw new LockTimeoutError({ path: e.path, holder: e.holder, waitedMs: e.waitedMs })
    throw e
  }
}
