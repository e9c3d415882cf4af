// Reading a build: the context and the Containerfile, the global ARGs, the stages the target
// needs in the order they run, and the $NAME lookup every instruction expands its words with.
import { readFile, stat } from "node:fs/promises"
import { join, posix, resolve } from "node:path"
import { normalizeName } from "../reference.js"
import { isHostRoot } from "../userns.js"
import { pairsOf } from "./configSteps.js"
import { BuildSetupError, BuildSyntaxError } from "./errors.js"
import type { BuildOptions } from "./executor.js"
import { type Instruction, parseContainerfile, type Stage, stagesOf } from "./parser.js"
import { type Lookup, WordSyntax, word } from "./words.js"

/** What a build runs, before any of it runs: checked up front, so a bad file or name fails before any work. */
export async function planBuild(contextDir: string, options: BuildOptions) {
  if (!isHostRoot()) throw new BuildSetupError({ reason: "cairn build needs root on the host (kernel overlay mounts and crun for RUN); run it as root" })
  const context = resolve(contextDir)
  const cst = await stat(context).catch(() => undefined)
  if (cst?.isDirectory() !== true) throw new BuildSetupError({ reason: `the build context ${contextDir} is not a directory` })
  let file = options.file
  if (file === undefined) {
    for (const name of ["Containerfile", "Dockerfile"]) {
      if ((await stat(join(context, name)).catch(() => undefined))?.isFile() === true) {
        file = join(context, name)
        break
      }
    }
    if (file === undefined) throw new BuildSetupError({ reason: `no Containerfile or Dockerfile in ${context}: give one with -f` })
  }
  const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new BuildSetupError({ reason: `cannot read the Containerfile ${file} (${e.code})` })
  })
  for (const t of options.tags ?? []) normalizeName(t) // a bad name fails before any work
  const shown = posix.basename(file)
  const cf = parseContainerfile(text, shown)
  const { globalArgs, stages } = stagesOf(cf)
  const envTs = process.env.SOURCE_DATE_EPOCH?.trim()
  const timestamp = options.timestamp ?? (envTs !== undefined && /^\d+$/.test(envTs) ? Number(envTs) : undefined)
  const buildArgs = options.buildArgs ?? {}
  const say = options.onLine ?? (() => {})

  // global ARGs (before the first FROM): usable in FROM lines, re-imported by `ARG NAME` in a stage
  const globals = new Map<string, string | undefined>()
  const syntax = (ins: Instruction, e: unknown): never => {
    if (e instanceof WordSyntax) throw new BuildSyntaxError({ file: shown, line: ins.line, column: ins.argsColumn + e.offset, reason: e.reason })
    throw e
  }
  const unsetArg = (ins: Instruction, name: string) =>
    new BuildSyntaxError({ file: shown, line: ins.line, column: ins.argsColumn + Math.max(0, ins.args.indexOf(name) - 1), reason: `ARG ${name} is used but has no value: give it a default (ARG ${name}=...) or --build-arg ${name}=...` })
  const lookupIn = (ins: Instruction, env: ReadonlyArray<string>, args: Map<string, string | undefined>): Lookup => (name) => {
    const e = [...env].reverse().find((x) => x.startsWith(`${name}=`))
    if (e !== undefined) return e.slice(name.length + 1)
    if (args.has(name)) {
      const v = args.get(name)
      if (v === undefined) throw unsetArg(ins, name)
      return v
    }
    return undefined
  }
  for (const ins of globalArgs) {
    for (const [k, v] of pairsOf(ins, cf.escape, lookupIn(ins, [], globals), syntax)) globals.set(k, buildArgs[k] ?? v)
  }

  // which stages the target needs
  const stageRef = (ref: string): Stage | undefined => stages.find((s) => s.name === ref.toLowerCase()) ?? (/^\d+$/.test(ref) ? stages[Number(ref)] : undefined)
  const fromName = (s: Stage) => {
    try {
      return word(s.from.args.split(/\s+/)[0]!, cf.escape, lookupIn(s.from, [], globals))
    } catch (e) {
      return syntax(s.from, e)
    }
  }
  let target = stages[stages.length - 1]!
  if (options.target !== undefined) {
    const t = stages.find((s) => s.name === options.target!.toLowerCase())
    if (t === undefined) throw new BuildSetupError({ reason: `no stage named ${JSON.stringify(options.target)} in ${shown} (stages: ${stages.map((s) => s.name ?? s.index).join(", ")})` })
    target = t
  }
  const needed = new Set<number>()
  const need = (s: Stage) => {
    if (needed.has(s.index)) return
    needed.add(s.index)
    const base = stageRef(fromName(s))
    if (base !== undefined && base.index < s.index) need(base)
    for (const ins of s.instructions) {
      const from = ins.flags.from
      if (typeof from === "string") {
        const dep = stageRef(from)
        if (dep !== undefined && dep.index < s.index) need(dep)
      }
    }
  }
  need(target)
  const order = stages.filter((s) => needed.has(s.index))
  const total = order.reduce((n, s) => n + 1 + s.instructions.length, 0)
  return { context, shown, cf, globals, syntax, lookupIn, stageRef, fromName, target, order, total, timestamp, buildArgs, say }
}

export type BuildPlan = Awaited<ReturnType<typeof planBuild>>
