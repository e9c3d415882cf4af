// Cross-process locks under ROOT/locks: @cairn/cas's lock file (link(2) of a written token,
// stale locks of dead holders broken by the next waiter), so the engine and the store share one
// implementation; a timeout is cas's LockTimeoutError, naming the lock and its holder.
import { join } from "node:path"
import { holdLock, type LockHandle, withLock as casWithLock } from "@cairn/cas"
import * as Effect from "effect/Effect"
import { asEngineError, type EngineError } from "./engineError.js"

const LOCK_TIMEOUT_MS = 120_000

/** Runs `f` holding ROOT/locks/<name>.lock; released however `f` ends. */
export function withLock<T>(locksDir: string, name: string, f: () => Promise<T>, timeoutMs = LOCK_TIMEOUT_MS): Promise<T> {
  return casWithLock(join(locksDir, `${name}.lock`), f, { timeoutMs })
}

/**
 * Runs `body` holding ROOT/locks/<name>.lock, released however it ends. Interrupting it while it
 * waits for the lock stops the wait (a lock taken meanwhile is released); `body` itself runs
 * uninterruptibly unless `interruptible`: what it changes under the lock is done whole.
 */
export const locked = <A, E, R>(
  locksDir: string,
  name: string,
  body: Effect.Effect<A, E, R>,
  options: { interruptible?: boolean } = {}
): Effect.Effect<A, E | EngineError, R> => {
  const path = join(locksDir, `${name}.lock`)
  const take = Effect.callback<LockHandle, EngineError>((resume) => {
    const controller = new AbortController()
    const taking = holdLock(path, { timeoutMs: LOCK_TIMEOUT_MS, signal: controller.signal })
    taking.then(
      (handle) => resume(Effect.succeed(handle)),
      (e: unknown) => resume(Effect.fail(asEngineError("take lock", path)(e)))
    )
    // interrupted while waiting: stop, and give back a lock that was taken as the wait ended
    return Effect.promise(() => {
      controller.abort(new Error(`waiting for ${path} was interrupted`))
      return taking.then((handle) => handle.release(), () => undefined)
    })
  })
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(restore(take), (handle) =>
      (options.interruptible === true ? restore(body) : body).pipe(Effect.ensuring(Effect.promise(() => handle.release().catch(() => undefined))))
    )
  )
}
