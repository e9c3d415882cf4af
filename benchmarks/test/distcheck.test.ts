import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
// @ts-expect-error: plain JS module of the bench
import { staleDist } from "../src/distcheck.mjs"

// a package compiled as cairn's are (tsconfig.base.json's emit options), by tsc itself
const dir = mkdtempSync(join(tmpdir(), "cairn-distcheck-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("staleDist: whether dist/ is what src/ compiles to", () => {
  it("finds nothing after tsc, then names a hand-edited and a missing file", async () => {
    const base = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "tsconfig.base.json"), "utf8"))
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "x", type: "module" }))
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { ...base.compilerOptions, types: [], rootDir: "src", outDir: "dist", tsBuildInfoFile: "dist/.tsbuildinfo" }, include: ["src"] }))
    mkdirSync(join(dir, "src"))
    writeFileSync(join(dir, "src", "a.ts"), 'import { b } from "./b.js"\nexport const a = (n: number): number => b(n) + 1\n')
    writeFileSync(join(dir, "src", "b.ts"), "/** doubles */\nexport function b(n: number): number {\n  return n * 2\n}\n")
    execFileSync(join(import.meta.dirname, "..", "..", "node_modules", ".bin", "tsc"), ["-p", dir])
    expect(await staleDist(dir)).toEqual([])
    writeFileSync(join(dir, "dist", "a.js"), `${readFileSync(join(dir, "dist", "a.js"), "utf8")}// an experiment\n`)
    unlinkSync(join(dir, "dist", "b.js"))
    expect(await staleDist(dir)).toEqual(["dist/a.js", "dist/b.js"])
  })
})
