import { join } from "node:path"
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { BlobNotFoundError, ContentStore, Store } from "../src/index.js"
import { sha } from "./imageFixture.js"
import { tempDir } from "./tempLayout.js"

describe("Effect API", () => {
  it("puts, tags and resolves through the ContentStore layer, sharing files with the Promise facade", async () => {
    const dir = join(tempDir(), "store")
    const program = Effect.gen(function* () {
      const cs = yield* ContentStore
      const r = yield* cs.put("hello", { digest: sha("hello") })
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: r.digest, size: r.size },
        layers: []
      })
      const m = yield* cs.put(manifest)
      yield* cs.tag("v1", m.digest)
      return { r, resolved: yield* cs.resolve("v1") }
    })
    const { r, resolved } = await Effect.runPromise(program.pipe(Effect.provide(ContentStore.layer(dir))))
    expect(r.created).toBe(true)
    const store = await Store.open(dir)
    expect((await store.resolve("v1")).digest).toBe(resolved.digest)
  })

  it("fails with typed errors in the error channel", async () => {
    const dir = tempDir()
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        const cs = yield* ContentStore
        return yield* cs.get(sha("missing"))
      }).pipe(Effect.provide(ContentStore.layer(dir)))
    )
    expect(Exit.isFailure(exit)).toBe(true)
    const caught = await Effect.runPromise(
      Effect.gen(function* () {
        const cs = yield* ContentStore
        return yield* cs.resolve("nope").pipe(Effect.catchTag("TagNotFoundError", (e) => Effect.succeed(`caught ${e.name}`)))
      }).pipe(Effect.provide(ContentStore.layer(dir)))
    )
    expect(caught).toBe("caught nope")
    const err = await Effect.runPromise(
      Effect.gen(function* () {
        const cs = yield* ContentStore
        return yield* Effect.flip(cs.read(sha("missing")))
      }).pipe(Effect.provide(ContentStore.layer(dir)))
    )
    expect(err).toBeInstanceOf(BlobNotFoundError)
  })

  it("releases a scoped lease when the scope closes", async () => {
    const store = await Store.open(tempDir())
    const during = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const cs = yield* ContentStore
          const lease = yield* cs.lease({ digests: [] })
          return (yield* Effect.promise(() => store.leases())).map((l) => l.id).includes(lease.id)
        })
      ).pipe(Effect.provide(ContentStore.fromStore(store)))
    )
    expect(during).toBe(true)
    expect(await store.leases()).toEqual([])
  })
})
