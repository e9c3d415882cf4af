// `cairn completion bash|zsh|fish` through the real binary; the bash script is sourced and driven as bash's completion does.
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const bin = join(import.meta.dirname, "../bin/cairn.js")
const built = existsSync(join(import.meta.dirname, "../dist/main.js"))
if (!built) console.warn("skipping completion tests: apps/cli is not built (npm test builds it first)")

const cairn = (...args: string[]) => spawnSync(process.execPath, [bin, "--progress", "none", ...args], { encoding: "utf8" })

/** COMPREPLY of the generated bash completion for the words of a command line (the last word is being completed). */
const complete = (script: string, words: string[]): string[] => {
  const r = spawnSync(
    "bash",
    ["-c", `eval "$SCRIPT"; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _cairn cairn "\${COMP_WORDS[COMP_CWORD]}"; printf '%s\\n' "\${COMPREPLY[@]}"`, "bash", ...words],
    { encoding: "utf8", env: { ...process.env, SCRIPT: script } }
  )
  expect(r.stderr).toBe("")
  return r.stdout.split("\n").filter(Boolean)
}

describe.skipIf(!built)("cairn completion", () => {
  it("bash: completes command names, a command's own options and the global ones", () => {
    const r = cairn("completion", "bash")
    expect(r.status).toBe(0)
    expect(complete(r.stdout, ["cairn", "im"]).sort()).toEqual(["images", "import"])
    expect(complete(r.stdout, ["cairn", "--root", "/x", "pu"]).sort()).toEqual(["pull", "push"])
    const pullOpts = complete(r.stdout, ["cairn", "pull", "--pl"])
    expect(pullOpts).toEqual(["--platform"])
    expect(complete(r.stdout, ["cairn", "images", "--ro"])).toEqual(["--root"])
  })

  it("zsh and fish: every command of the table is offered", () => {
    const help = cairn("--help").stdout
    const names = [...help.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!)
    expect(names).toContain("completion")
    const zsh = cairn("completion", "zsh")
    const fish = cairn("completion", "fish")
    expect(zsh.status).toBe(0)
    expect(fish.status).toBe(0)
    expect(zsh.stdout.startsWith("#compdef cairn")).toBe(true)
    for (const n of names) {
      expect(zsh.stdout).toContain(`'${n}:`)
      expect(fish.stdout).toContain(`-a ${n} -d`)
    }
    expect(fish.stdout).toContain("__fish_seen_subcommand_from pull' -l platform")
  })

  it("an unknown shell is a usage error (exit 2) naming the choices", () => {
    const r = cairn("completion", "tcsh")
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('unknown shell "tcsh": one of bash, zsh, fish')
  })
})
