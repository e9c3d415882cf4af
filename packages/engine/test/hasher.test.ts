import { rmSync } from "node:fs"
import { join } from "node:path"
import { defaultBackend, setDefaultHasher } from "@cairn/digest"
import { afterAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, busyboxLayer, tempDir } from "./fixtures.js"

describe("engine hasher option", () => {
  const dir = tempDir()
  afterAll(() => {
    setDefaultHasher(undefined)
    rmSync(dir, { recursive: true, force: true })
  })

  it("imports and verifies an image with either core, picked by the hasher option", async () => {
    const src = buildLayout(join(dir, "src"), "busybox:1.0", [busyboxLayer, { files: { "etc/motd": "hello\n" } }])
    for (const hasher of ["native", "wasm"] as const) {
      const engine = await Engine.open({ root: join(dir, hasher), hasher })
      try {
        expect(defaultBackend.name).toBe(hasher === "native" ? "node" : "wasm")
        const img = await engine.importImage(`oci:${src.dir}:busybox:1.0`)
        expect(img.digest).toBe(src.manifestDigest)
      } finally {
        await engine.close()
      }
    }
  })
})
