// @cairn/overlay/apply: applying layer tars through the Promise API, with its options, results and
// errors, and nothing else of @cairn/overlay: importing it loads no effect/Effect, which a short
// process (one extraction) would otherwise spend ~90 ms of its start-up loading.
export { type ApplyLayerError, applyLayer, applyLayers, OFF_THREAD_MIN_BYTES } from "./apply.js"
export type { ApplyForm, ApplyOptions, ApplyResult, ApplyWarning, OverlayFormOptions } from "./applyOptions.js"
export * from "./errors.js"
export { fileCompression } from "./layerReader.js"
