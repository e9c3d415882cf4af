// Whether each package's built JavaScript (dist/) is what its TypeScript source compiles to now.
// The bench times dist/ as it finds it, and a hand-edited or left-over dist/ file can survive
// builds (`tsc -b` and turbo's cache judge by the sources): stop 29 found an experiment left in
// packages/cas/dist/ingestWrite.js that two scoreboards had timed. Every package compiles with
// isolatedModules, so each file's emit depends on that file alone: transpileModule per file, with
// the package's own compiler options, gives what tsc -b emits.
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join, relative } from "node:path"
import ts from "typescript"

/**
 * The dist/ files of the package at `pkgDir` that differ from, or are missing for, its src/.
 * @param {string} pkgDir
 * @returns {Promise<string[]>} paths relative to `pkgDir`
 */
export async function staleDist(pkgDir) {
  const configPath = join(pkgDir, "tsconfig.json")
  if (!existsSync(configPath) || !existsSync(join(pkgDir, "dist"))) return []
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })
  if (!parsed) return []
  // every package is "type": "module": NodeNext emits its .ts files as ES modules, which
  // transpileModule (one file, no package.json lookup) must be told
  const options = { ...parsed.options, module: ts.ModuleKind.ESNext }
  const rootDir = options.rootDir ?? join(pkgDir, "src")
  const outDir = options.outDir ?? join(pkgDir, "dist")
  const stale = []
  for (const file of parsed.fileNames.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))) {
    const rel = relative(rootDir, file).replace(/\.ts$/, ".js")
    const built = join(outDir, rel)
    const want = ts.transpileModule(await readFile(file, "utf8"), { compilerOptions: options, fileName: file }).outputText
    const have = existsSync(built) ? await readFile(built, "utf8") : undefined
    if (have !== want) stale.push(relative(pkgDir, built))
  }
  return stale
}
