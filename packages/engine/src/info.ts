import { readFile } from "node:fs/promises"
import { type DetectReport, chooseDriver } from "@cairn/mount"
import * as Effect from "effect/Effect"
import type { EngineContext } from "./context.js"
import type { EngineError } from "./engineError.js"
import { registriesInfo } from "./registries.js"

export interface InfoReport {
  readonly root: string
  readonly drivers: DetectReport["drivers"]
  readonly chosenDriver: string | undefined
  readonly kernel: string
  readonly versions: Record<string, string>
  /** the registries configuration pulls follow (`<root>/registries.conf`) */
  readonly registries: ReturnType<typeof registriesInfo>
}

async function version(pkg: string): Promise<string> {
  try {
    const url = import.meta.resolve(`${pkg}/package.json`)
    return (JSON.parse(await readFile(new URL(url), "utf8")) as { version: string }).version
  } catch {
    return "unknown"
  }
}

export const info = (ctx: EngineContext): Effect.Effect<InfoReport, EngineError> =>
  Effect.gen(function*() {
    const report = yield* ctx.mounter.detect
    let chosen: string | undefined
    try {
      chosen = ctx.driver === "auto" ? chooseDriver(report) : ctx.driver
    } catch {}
    const versions: Record<string, string> = { node: process.versions.node }
    for (const p of ["@cairn/engine", "@cairn/cas", "@cairn/overlay", "@cairn/mount", "@cairn/registry", "@cairn/oci-spec", "@cairn/digest"]) {
      versions[p] = yield* Effect.promise(() => version(p))
    }
    return { root: ctx.layout.root, drivers: report.drivers, chosenDriver: chosen, kernel: report.kernel.release, versions, registries: registriesInfo(ctx.layout.root) }
  })
