// The Effect form of applyLayer, apart from apply.ts so that applying a layer through the Promise
// API (@cairn/overlay/apply) loads no effect/Effect (65 modules, ~90 ms of a process's start-up).
import * as Effect from "effect/Effect"
import { type ApplyLayerError, applyLayer, isApplyLayerError } from "./apply.js"
import type { ApplyOptions, ApplyResult } from "./applyOptions.js"
import { ApplyEntryError } from "./errors.js"

/** Effect form of applyLayer: the typed failures in the error channel. */
export const applyLayerEffect = (
  source: AsyncIterable<Uint8Array> | string,
  target: string,
  options: ApplyOptions = {}
): Effect.Effect<ApplyResult, ApplyLayerError> =>
  Effect.tryPromise({
    try: () => applyLayer(source, target, options),
    // Typed failures keep their tag; anything else (an I/O error of the source, say) is wrapped.
    catch: (e) =>
      isApplyLayerError(e)
        ? e
        : new ApplyEntryError({ path: target, operation: "applying the layer", reason: e instanceof Error ? e.message : String(e) })
  })
