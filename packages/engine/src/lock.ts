// Cross-process locks under ROOT/locks: @cairn/cas's lock file (link(2) of a written token,
// stale locks of dead holders broken by the next waiter), so the engine and the store share one
// implementation; a timeout is cas's LockTimeoutError, naming the lock and its holder.
import { join } from "node:path"
import { withLock as casWithLock } from "@cairn/cas"

/** Runs `f` holding ROOT/locks/<name>.lock; released however `f` ends. */
export function withLock<T>(locksDir: string, name: string, f: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  return casWithLock(join(locksDir, `${name}.lock`), f, { timeoutMs })
}
