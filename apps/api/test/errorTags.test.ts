// One error model: every package keeps one list of its error classes (the union type and the guard
// come from it), and tags are unique across the project, so catchTag and the status table can tell
// every failure apart.
import { CasErrors, isCasError } from "@cairn/cas"
import { BuildStepError, EngineErrors, EngineIOError, ImageNotFoundError, isEngineError } from "@cairn/engine"
import { isMountError, MountErrors } from "@cairn/mount"
import { isOciSpecError, OciSpecErrors } from "@cairn/oci-spec"
import { isOverlayError, OverlayErrors, TarChecksumError } from "@cairn/overlay"
import { isRegistryFailure, RegistryErrors } from "@cairn/registry"
import * as Data from "effect/Data"
import { describe, expect, it } from "vitest"
import { statusByTag } from "../src/errorStatus.js"

const tagOf = (k: new (...args: never[]) => { readonly _tag: string }) => (Reflect.construct(k, [{}]) as { _tag: string })._tag
const lists = { CasErrors, RegistryErrors, OverlayErrors, MountErrors, OciSpecErrors, EngineErrors } as const

describe("error tags", () => {
  it("no two classes anywhere in the package lists share a tag", () => {
    const byTag = new Map<string, Set<unknown>>()
    for (const list of Object.values(lists)) {
      for (const k of list) {
        const tag = tagOf(k as never)
        byTag.set(tag, (byTag.get(tag) ?? new Set()).add(k))
      }
    }
    const clashes = [...byTag].filter(([, ks]) => ks.size > 1).map(([t]) => t)
    expect(clashes).toEqual([])
  })
  it("the engine's list holds every lower package's list, and every class in it has a status", () => {
    const engine = new Set<unknown>(EngineErrors)
    for (const [name, list] of Object.entries(lists)) for (const k of list) expect(engine.has(k), `${name}: ${tagOf(k as never)}`).toBe(true)
    for (const k of EngineErrors) expect(Object.hasOwn(statusByTag, tagOf(k as never)), tagOf(k as never)).toBe(true)
    // and the table holds nothing the engine cannot fail with (no stale rows)
    const tags = new Set(EngineErrors.map((k) => tagOf(k as never)))
    expect(Object.keys(statusByTag).filter((t) => !tags.has(t))).toEqual([])
  })
  it("each guard knows its own classes and nothing that merely has a _tag", () => {
    class Foreign extends Data.TaggedError("ImageNotFoundError")<{}> {}
    const impostor = new Foreign()
    expect(isEngineError(new ImageNotFoundError({ image: "x" }))).toBe(true)
    expect(isEngineError(new BuildStepError({ step: 1, instruction: "RUN false", exitCode: 1 } as never))).toBe(true)
    expect(isEngineError(impostor)).toBe(false)
    expect(isEngineError(new Error("plain"))).toBe(false)
    expect(isEngineError({ _tag: "EngineIOError" })).toBe(false)
    expect(isOverlayError(new TarChecksumError({} as never))).toBe(true)
    expect(isOverlayError(new EngineIOError({ operation: "x", path: "y", cause: undefined }))).toBe(false)
    expect([isCasError, isRegistryFailure, isMountError, isOciSpecError].map((g) => g(impostor))).toEqual([false, false, false, false])
  })
})
