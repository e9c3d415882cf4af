// Every published package, as a user gets it from npm: `npm pack` them all, install the tarballs
// (and `effect`, as a user's own dependency) into an empty project outside the workspace, and run
// each package's README example there, exactly as the README shows it. A file left out of
// `files`, an import of a package that is not declared as a dependency (which hoisting in one
// project would hide, so the build's imports are checked against package.json), or a second
// copy of effect fails here, not in a user's project.
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const exec = promisify(execFile)
const repo = resolve(import.meta.dirname, "../../..")

interface Manifest {
  readonly name: string
  readonly private?: boolean
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly bin?: Record<string, string>
}

const published = ["packages", "apps"]
  .flatMap((group) => readdirSync(join(repo, group)).map((d) => join(group, d)))
  .filter((dir) => existsSync(join(repo, dir, "package.json")))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(repo, dir, "package.json"), "utf8")) as Manifest }))
  .filter((p) => !p.manifest.private)
/** What each README example prints last (the examples assert the rest themselves). */
const prints: Record<string, RegExp> = {
  "@cairn/digest": /^sha256:[0-9a-f]{64} chainID of two layers: sha256:[0-9a-f]{64}$/m,
  "@cairn/oci-spec": /^sha256:[0-9a-f]{64} \d+ bytes$/m,
  "@cairn/cas": /^sha256:[0-9a-f]{64} 13 bytes in /m,
  "@cairn/overlay": /^sha256:[0-9a-f]{64} gzip \d+ entries$/m,
  "@cairn/mount": /^mounted with the (kernel|rootless|fuse|copy) driver; the change is in upper\/$/m,
  "@cairn/registry": /^sha256:[0-9a-f]{64} \d+ bytes pulled$/m,
  "@cairn/engine": /^hello:1 sha256:[0-9a-f]{64} 1 layer$/m,
  "@cairn/cli": /^\[\]$/m,
  "@cairn/api": /^http:\/\/127\.0\.0\.1:\d+ serves cairn-api with \d+ paths$/m
}

/** The README block marked `<!-- example: … -->`: the language tag and the code. */
function readmeExample(readme: string): { lang: string; code: string } | undefined {
  const m = /<!--\s*example:[^>]*-->\s*\n```(\w+)[^\n]*\n([\s\S]*?)\n```/.exec(readme)
  return m ? { lang: m[1]!, code: `${m[2]!}\n` } : undefined
}

/** The packages a built file imports by bare name (`effect`, `@cairn/digest`), not node: or relative ones. */
function importedPackages(js: string): Set<string> {
  const out = new Set<string>()
  const statements = /^\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"|^\s*import\s*"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/gm
  for (const m of js.matchAll(statements)) {
    const spec = m[1] ?? m[2] ?? m[3]!
    if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(\/.*)?$/.test(spec)) continue // relative, absolute, node:
    out.add(spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/"))
  }
  return out
}

/** Paths of every installed copy of `name` under a project's node_modules. */
function installedCopies(nodeModules: string, name: string, out: string[] = []): string[] {
  if (!existsSync(nodeModules)) return out
  for (const entry of readdirSync(nodeModules)) {
    const dirs = entry.startsWith("@") ? readdirSync(join(nodeModules, entry)).map((e) => join(nodeModules, entry, e)) : [join(nodeModules, entry)]
    for (const dir of dirs) {
      if (dir === join(nodeModules, name)) out.push(dir)
      installedCopies(join(dir, "node_modules"), name, out)
    }
  }
  return out
}

// npm runs this test as a script: drop the npm_* variables it set for the workspace (prefix,
// workspace, lifecycle, package), keeping the ones that say where the registry and cache are.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^npm_/i.test(k) || /^npm_config_(cache|registry|userconfig|globalconfig|cafile|strict_ssl|proxy|https_proxy|noproxy)$/i.test(k) || /^npm_config_@.*:registry$/i.test(k)
  )
)
delete env.INIT_CWD

let work: string
let project: string
const packed = new Map<string, ReadonlyArray<string>>()

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cairn-packaging-"))
  const dest = join(work, "tarballs")
  mkdirSync(dest)
  const { stdout } = await exec(
    "npm",
    ["pack", "--json", "--pack-destination", dest, ...published.flatMap((p) => ["-w", p.dir])],
    { cwd: repo, env, maxBuffer: 64 << 20 }
  )
  const tarballs = new Map<string, string>()
  for (const p of JSON.parse(stdout) as Array<{ name: string; filename: string; files: Array<{ path: string }> }>) {
    tarballs.set(p.name, join(dest, p.filename))
    packed.set(p.name, p.files.map((f) => f.path))
  }
  // a user's project: the tarballs, and effect in the range the packages ask of their peer. The
  // overrides make the packages' dependencies on each other resolve to these tarballs too, so
  // npm never asks the registry for @cairn/* (not published there)
  project = join(work, "project")
  mkdirSync(join(project, "tmp"), { recursive: true })
  const effectRange = published.find((p) => p.manifest.peerDependencies?.effect)?.manifest.peerDependencies?.effect
  const names = [...tarballs.keys()]
  writeFileSync(
    join(project, "package.json"),
    `${JSON.stringify({
      name: "user-project",
      private: true,
      type: "module",
      dependencies: { ...Object.fromEntries([...tarballs].map(([n, f]) => [n, `file:${f}`])), effect: effectRange },
      overrides: Object.fromEntries(names.map((n) => [n, `$${n}`]))
    })}\n`
  )
  await exec("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: project,
    env,
    maxBuffer: 64 << 20
  })
  // a cold npm cache on this 2-core machine takes minutes
}, 360_000)

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

it("installs one effect, the user's, that every package shares", () => {
  expect(installedCopies(join(project, "node_modules"), "effect").map((p) => p.slice(project.length + 1))).toEqual(["node_modules/effect"])
})

describe.concurrent("each package from its npm tarball", () => {
  for (const { dir, manifest } of published) {
    it(`${manifest.name}: the tarball holds the build and declares what it imports, and the README example runs`, async () => {
      // what npm would publish: the build and what it loads at run time, no sources or tests
      const files = packed.get(manifest.name)
      expect(files, `npm pack produced no tarball for ${manifest.name}`).toBeDefined()
      expect(files!.filter((f) => !/^(dist\/|bin\/|worker\/|package\.json$|README\.md$|LICENSE$)/.test(f))).toEqual([])
      expect(files!.filter((f) => /\.tsbuildinfo$|\.test\.[jt]s$/.test(f))).toEqual([])
      expect(files).toContain("dist/index.js")
      expect(files).toContain("dist/index.d.ts")

      // every package the build imports is declared; effect as a peer (the user's instance)
      const imported = new Set(
        files!.filter((f) => /\.m?js$/.test(f)).flatMap((f) => [...importedPackages(readFileSync(join(repo, dir, f), "utf8"))])
      )
      const declared = new Set(Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies }))
      expect([...imported].filter((d) => !declared.has(d)), `${manifest.name} imports packages its package.json does not declare`).toEqual([])
      if (imported.has("effect")) {
        expect(manifest.peerDependencies?.effect, `${manifest.name} imports effect but has no peerDependency on it`).toMatch(/^\^4\./)
        expect(manifest.dependencies?.effect).toBeUndefined()
      }

      const example = readmeExample(readFileSync(join(repo, dir, "README.md"), "utf8"))
      expect(example, `${dir}/README.md has no block marked <!-- example: … -->`).toBeDefined()
      const { lang, code } = example!
      const name = manifest.name.replace("/", "+")
      const tmp = mkdtempSync(join(project, "tmp", `${name}-`))
      const runEnv = { ...env, TMPDIR: tmp, PATH: `${join(project, "node_modules/.bin")}:${env.PATH}` }
      let stdout: string
      if (lang === "js") {
        writeFileSync(join(project, `${name}.mjs`), code)
        ;({ stdout } = await exec(process.execPath, [`${name}.mjs`], { cwd: project, env: runEnv }))
      } else {
        expect(lang).toBe("sh")
        writeFileSync(join(project, `${name}.sh`), code)
        ;({ stdout } = await exec("bash", ["-euo", "pipefail", `${name}.sh`], { cwd: project, env: runEnv }))
      }
      const expected = prints[manifest.name]
      expect(expected, `no expected output listed for ${manifest.name}`).toBeDefined()
      expect(stdout).toMatch(expected!)
    })
  }
})
