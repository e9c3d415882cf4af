// benchExtract loads @cairn/overlay and both hashers; importing @cairn/engine must not, so the
// public entry loads the benchmark on first call.
import type { Engine } from "./engine.js"
import type { BenchExtractOptions, BenchExtractReport } from "./benchExtract.js"

/** Extracts each layer of `image` into a temporary dir and reports the time spent per stage. */
export async function benchExtract(engine: Engine, image: string, options: BenchExtractOptions = {}): Promise<BenchExtractReport> {
  return (await import("./benchExtract.js")).benchExtract(engine, image, options)
}
