// Tags are unique across the project: catchTag and the status table can tell every failure apart.
import { CasErrors } from "@cairn/cas"
import { RegistryErrors } from "@cairn/registry"
import { describe, expect, it } from "vitest"
import { statusByTag } from "../src/errorStatus.js"

const tagOf = (k: new (...args: never[]) => { readonly _tag: string }) => (Reflect.construct(k, [{}]) as { _tag: string })._tag

describe("error tags", () => {
  it("no two classes in the package lists share a tag", () => {
    const byTag = new Map<string, Set<unknown>>()
    for (const k of [...CasErrors, ...RegistryErrors]) {
      const tag = tagOf(k as never)
      byTag.set(tag, (byTag.get(tag) ?? new Set()).add(k))
    }
    const clashes = [...byTag].filter(([, ks]) => ks.size > 1).map(([t]) => t)
    expect(clashes).toEqual([])
  })
  it("every listed class has a status in the table", () => {
    for (const k of [...CasErrors, ...RegistryErrors]) expect(Object.hasOwn(statusByTag, tagOf(k as never)), tagOf(k as never)).toBe(true)
  })
})
