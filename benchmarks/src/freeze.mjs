// Freezes the cairn packages a run measures, once their dist/ is checked against their source
// (distcheck.mjs): copies each workspace package's package.json and
// published files (dist/, overlay's worker/; plus the bench's own worker scripts) into one directory, so that a rebuild of packages/*/dist by
// someone's `npm test` in the middle of a run cannot change the code being timed.
// Third-party modules (effect, hash-wasm, ...) still resolve from the repo's node_modules above.
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { cp, mkdir, readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { benchDir } from "./corpus.mjs"
import { staleDist } from "./distcheck.mjs"

/**
 * @param {string} root where the frozen copy goes (under the repository, so node_modules resolve)
 * @returns {Promise<{ root: string, worker: string, entry: (name: string) => string, cli: string | undefined, commit: string, packages: string[] }>}
 */
export async function freezeCairn(root) {
  const repo = join(benchDir, "..")
  const packages = []
  // the libraries, and the apps (the CLI, whose start-up the scoreboard times, and the API it loads)
  const dirs = []
  for (const top of ["packages", "apps"]) {
    if (!existsSync(join(repo, top))) continue
    for (const name of (await readdir(join(repo, top))).sort()) dirs.push([top, name])
  }
  const built = dirs.filter(([top, name]) => existsSync(join(repo, top, name, "dist", "index.js")))
  // refused before anything is copied, so a refusal leaves nothing behind
  /** @type {string[]} */
  const stale = []
  for (const [top, name] of built) for (const f of await staleDist(join(repo, top, name))) stale.push(`${top}/${name}/${f}`)
  if (stale.length > 0) {
    throw new Error(
      `built code differs from its source, so the run would not time the source: ${stale.slice(0, 5).join(", ")}${stale.length > 5 ? ` and ${stale.length - 5} more` : ""}. Delete those packages' dist/ and run npm run build (a hand edit to dist/ can survive a build: tsc -b and turbo's cache judge by the sources)`
    )
  }
  for (const [top, name] of built) {
    const src = join(repo, top, name)
    const dest = join(root, "node_modules", "@cairn", name)
    await mkdir(dest, { recursive: true })
    await cp(join(src, "package.json"), join(dest, "package.json"))
    // what the package publishes (its `files`): dist/, and e.g. overlay's worker/ scripts
    const { files = ["dist"] } = JSON.parse(await readFile(join(src, "package.json"), "utf8"))
    for (const f of files) {
      if (f.startsWith("!") || f.includes("*") || !existsSync(join(src, f))) continue
      await cp(join(src, f), join(dest, f), { recursive: true })
    }
    if (top === "packages") packages.push(name)
  }
  for (const f of ["worker.mjs", "pull.mjs"]) await cp(join(benchDir, "src", f), join(root, f))
  let commit = "unknown"
  try {
    const head = execFileSync("git", ["-C", repo, "rev-parse", "--short", "HEAD"]).toString().trim()
    const dirty = execFileSync("git", ["-C", repo, "status", "--porcelain", "--", "packages", "apps"]).toString().trim() !== ""
    commit = `${head}${dirty ? " (+ uncommitted changes in packages/ or apps/)" : ""}`
  } catch {}
  return {
    root,
    worker: join(root, "worker.mjs"),
    entry: (name) => pathToFileURL(join(root, "node_modules", "@cairn", name, "dist", "index.js")).href,
    // the frozen CLI launcher (apps/cli/bin/cairn.js), when the CLI is built
    cli: existsSync(join(root, "node_modules", "@cairn", "cli", "bin", "cairn.js")) ? join(root, "node_modules", "@cairn", "cli", "bin", "cairn.js") : undefined,
    commit,
    packages
  }
}
