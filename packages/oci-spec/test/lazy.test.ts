// @cairn/oci-spec/lazy: importing it loads no effect/Schema; the first decode loads the schemas and
// decodes as @cairn/oci-spec does. Run in a fresh node on the built package, with a resolve hook
// recording every module it loads.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const pkg = join(import.meta.dirname, "..")
const built = existsSync(join(pkg, "dist/lazy.js"))
if (!built) console.warn("skipping the lazy-entry test: @cairn/oci-spec is not built (npm test builds it first)")

describe.skipIf(!built)("@cairn/oci-spec/lazy", () => {
  it("loads no effect/Schema until the first decode, then decodes and rejects as the full entry does", () => {
    const dir = mkdtempSync(join(tmpdir(), "oci-spec-lazy-"))
    try {
      const trace = join(dir, "trace")
      const hook = `import{appendFileSync}from"node:fs";export async function resolve(s,c,n){const r=await n(s,c);appendFileSync(${JSON.stringify(trace)},r.url+"\\n");return r}`
      const pre = `import{register}from"node:module";register("data:text/javascript,"+encodeURIComponent(${JSON.stringify(hook)}))`
      const script = `
        import { appendFileSync } from "node:fs"
        const mark = (m) => appendFileSync(${JSON.stringify(trace)}, m + "\\n")
        const oci = await import("@cairn/oci-spec/lazy")
        mark("-- imported")
        const config = await oci.encodeCanonical({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } })
        const m = await oci.decodeManifest(JSON.stringify({ schemaVersion: 2, config: { mediaType: oci.OciMediaType.ImageConfig, digest: config.digest, size: config.size }, layers: [] }))
        const bad = await oci.decodeManifest(JSON.stringify({ schemaVersion: 2, config: { mediaType: oci.OciMediaType.ImageConfig, digest: "sha256:abc", size: 1 }, layers: [] })).catch((e) => e)
        console.log(JSON.stringify({ digest: m.digest, badTag: bad._tag, badPath: bad.path, isOci: oci.isOciSpecError(bad) }))`
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: pkg,
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: `--import data:text/javascript,${encodeURIComponent(pre)}` }
      })
      expect(r.status, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout)
      expect(out.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(out).toMatchObject({ badTag: "OciDecodeError", badPath: "config.digest", isOci: true })
      const lines = readFileSync(trace, "utf8").split("\n")
      const cut = lines.indexOf("-- imported")
      const schema = (l: string) => l.endsWith("/effect/dist/Schema.js")
      expect(cut).toBeGreaterThan(0)
      expect(lines.slice(0, cut).some((l) => l.endsWith("/oci-spec/dist/lazy.js"))).toBe(true)
      expect(lines.slice(0, cut).filter(schema)).toEqual([])
      expect(lines.slice(cut).filter(schema)).not.toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
