// The leaves of the engine's Effect programs: one Promise of plain Node I/O (or of a package
// below), its failure typed. The engine's and the lower packages' typed errors pass unchanged;
// anything else (a bare Node error) becomes an EngineIOError naming what was done, and where.
import * as Effect from "effect/Effect"
import { asEngineError, type EngineError, isEngineError } from "./engineError.js"

/**
 * The Promise `f` makes, as an Effect. Interrupting it aborts `signal` and waits until the
 * Promise has settled: no leaf goes on writing after the Effect that ran it was interrupted,
 * so the clean-up that follows (a temp directory removed) never races it. `given` (a caller's
 * own signal) aborts it too. `failure` types what it rejects with; an untyped rejection after
 * the abort reports the signal's reason (`interrupted`), not what the cut I/O happened to throw.
 */
export const settled = <A>(
  f: (signal: AbortSignal) => Promise<A>,
  failure: (e: unknown) => EngineError,
  options: { readonly given?: AbortSignal; readonly interrupted?: string } = {}
): Effect.Effect<A, EngineError> =>
  Effect.callback<A, EngineError>((resume) => {
    const controller = new AbortController()
    const signal = options.given === undefined ? controller.signal : AbortSignal.any([controller.signal, options.given])
    const running = Promise.resolve().then(() => f(signal))
    running.then(
      (a) => resume(Effect.succeed(a)),
      (e: unknown) => resume(Effect.fail(failure(signal.aborted && !isEngineError(e) ? (signal.reason ?? e) : e)))
    )
    return Effect.promise(() => {
      controller.abort(new Error(options.interrupted ?? "interrupted"))
      return running.then(() => undefined, () => undefined)
    })
  })

/** `f`'s Promise as an Effect (see `settled`); an untyped failure is an EngineIOError of `operation` on `path`. */
export const attempt = <A>(operation: string, path: string, f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, EngineError> =>
  settled(f, asEngineError(operation, path))
