// @cairn/overlay/apply, as a fresh process imports it: no effect/Effect loaded, and a layer applied
// with both digests checked. Run on the built package, a resolve hook recording every module.
import { execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"

const pkg = join(import.meta.dirname, "..")
const built = existsSync(join(pkg, "dist/applyEntry.js"))
if (!built) console.warn("skipping the entry-point test: @cairn/overlay is not built (npm test builds it first)")
const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`

describe.skipIf(!built)("@cairn/overlay/apply", () => {
  it("applies a layer, both digests checked, without loading effect/Effect", () => {
    const dir = mkdtempSync(join(tmpdir(), "overlay-apply-entry-"))
    try {
      mkdirSync(join(dir, "src/etc"), { recursive: true })
      writeFileSync(join(dir, "src/etc/hostname"), "cairn\n")
      execFileSync("tar", ["-czf", join(dir, "layer.tgz"), "-C", join(dir, "src"), "etc"])
      const blob = readFileSync(join(dir, "layer.tgz"))
      const trace = join(dir, "trace")
      const hook = `import{appendFileSync}from"node:fs";export async function resolve(s,c,n){const r=await n(s,c);appendFileSync(${JSON.stringify(trace)},r.url+"\\n");return r}`
      const pre = `import{register}from"node:module";register("data:text/javascript,"+encodeURIComponent(${JSON.stringify(hook)}))`
      const script = `
        const { applyLayer } = await import("@cairn/overlay/apply")
        const r = await applyLayer(${JSON.stringify(join(dir, "layer.tgz"))}, ${JSON.stringify(join(dir, "out"))}, { expectedDigest: ${JSON.stringify(sha(blob))}, expectedDiffId: ${JSON.stringify(sha(gunzipSync(blob)))} })
        console.log(JSON.stringify({ digest: r.digest, diffId: r.diffId }))`
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: pkg,
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: `--import data:text/javascript,${encodeURIComponent(pre)}` }
      })
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual({ digest: sha(blob), diffId: sha(gunzipSync(blob)) })
      expect(readFileSync(join(dir, "out/etc/hostname"), "utf8")).toBe("cairn\n")
      const urls = readFileSync(trace, "utf8").split("\n")
      expect(urls.some((u) => u.endsWith("/overlay/dist/applyEntry.js"))).toBe(true)
      expect(urls.filter((u) => u.endsWith("/effect/dist/Effect.js"))).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
