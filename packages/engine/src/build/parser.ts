// The Containerfile/Dockerfile syntax (docs.docker.com "Dockerfile reference"): parser
// directives, comments, line continuations, JSON (exec) and shell forms, flags, heredocs.
// It only splits and checks the syntax; expansion happens per stage when the build runs.
import { BuildSyntaxError } from "./errors.js"

export const KEYWORDS = [
  "FROM", "ARG", "ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "ENTRYPOINT", "CMD", "SHELL",
  "STOPSIGNAL", "HEALTHCHECK", "COPY", "ADD", "RUN", "MAINTAINER"
] as const
export type Keyword = (typeof KEYWORDS)[number]

/** Flags each instruction accepts (`--name=value`); a flag listed with `true` takes no value. */
const FLAGS: Partial<Record<Keyword, Record<string, boolean>>> = {
  FROM: { platform: false },
  COPY: { from: false, chown: false, chmod: false, link: true },
  ADD: { chown: false, chmod: false, link: true },
  RUN: { network: false },
  HEALTHCHECK: { interval: false, timeout: false, "start-period": false, "start-interval": false, retries: false }
}

export interface Heredoc {
  readonly name: string
  readonly body: string
}

export interface Instruction {
  readonly keyword: Keyword
  /** the arguments after the flags, continuation lines joined */
  readonly args: string
  /** the exec (JSON array) form, when the arguments are one */
  readonly json?: ReadonlyArray<string>
  readonly flags: Readonly<Record<string, string | true>>
  readonly heredocs: ReadonlyArray<Heredoc>
  /** 1-based line and column of the keyword */
  readonly line: number
  readonly column: number
  /** column where the arguments start on the first line */
  readonly argsColumn: number
  /** the instruction as written (continuations joined), for output and history */
  readonly text: string
}

export interface Containerfile {
  readonly file: string
  readonly escape: string
  readonly instructions: ReadonlyArray<Instruction>
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$/
const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g

export function parseContainerfile(text: string, file = "Containerfile"): Containerfile {
  const lines = text.replace(/\r\n/g, "\n").split("\n")
  const fail = (line: number, column: number, reason: string): never => {
    throw new BuildSyntaxError({ file, line, column, reason })
  }
  let esc = "\\"
  let n = 0
  // parser directives: only at the very top, before any comment, blank line or instruction
  const seen = new Set<string>()
  for (; n < lines.length; n++) {
    const m = DIRECTIVE.exec(lines[n]!)
    if (m === null) break
    const key = m[1]!.toLowerCase()
    if (key !== "escape" && key !== "syntax" && key !== "check") break
    if (seen.has(key)) fail(n + 1, 1, `the ${key} directive is given twice`)
    seen.add(key)
    if (key === "escape") {
      if (m[2] !== "\\" && m[2] !== "`") fail(n + 1, lines[n]!.indexOf("=") + 2, `escape must be \\ or \`, not ${JSON.stringify(m[2])}`)
      esc = m[2]!
    }
  }
  const instructions: Array<Instruction> = []
  const isComment = (l: string) => /^\s*#/.test(l)
  const continues = (l: string) => {
    const t = l.replace(/\s+$/, "")
    return t.endsWith(esc) && !t.endsWith(esc + esc)
  }
  while (n < lines.length) {
    const first = lines[n]!
    if (first.trim() === "" || isComment(first)) {
      n++
      continue
    }
    const line = n + 1
    const column = first.length - first.trimStart().length + 1
    let joined = ""
    let cur = first
    for (;;) {
      if (continues(cur)) {
        joined += cur.replace(/\s+$/, "").slice(0, -1)
        n++
        // comment and blank lines inside a continuation are dropped (as docker does)
        while (n < lines.length && (isComment(lines[n]!) || lines[n]!.trim() === "")) n++
        if (n >= lines.length) break
        cur = lines[n]!
        continue
      }
      joined += cur
      n++
      break
    }
    const m = /^(\s*)(\S+)(\s*)/.exec(joined)!
    const word = m[2]!
    const keyword = word.toUpperCase() as Keyword
    if (!(KEYWORDS as ReadonlyArray<string>).includes(keyword)) {
      const hint = word.toUpperCase() === "ONBUILD" ? "ONBUILD is not supported by cairn build" : `unknown instruction ${JSON.stringify(word)}`
      fail(line, column, hint)
    }
    let rest = joined.slice(m[0].length)
    let argsColumn = column + m[0].length - m[1]!.length
    const flags: Record<string, string | true> = {}
    const accepted = FLAGS[keyword] ?? {}
    for (;;) {
      const f = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(\s+|$)/.exec(rest)
      if (f === null) break
      const name = f[1]!
      if (!(name in accepted)) fail(line, argsColumn, `${keyword} does not take --${name}${Object.keys(accepted).length > 0 ? ` (it takes ${Object.keys(accepted).map((k) => `--${k}`).join(", ")})` : ""}`)
      if (accepted[name] === true) {
        if (f[2] !== undefined) fail(line, argsColumn, `--${name} takes no value`)
        flags[name] = true
      } else {
        if (f[2] === undefined || f[2] === "") fail(line, argsColumn, `--${name} needs a value: --${name}=VALUE`)
        flags[name] = f[2]!
      }
      rest = rest.slice(f[0].length)
      argsColumn += f[0].length
    }
    const args = rest.trim()
    // heredocs (RUN, COPY, ADD): the lines after the instruction up to each terminator
    const heredocs: Array<Heredoc> = []
    if (keyword === "RUN" || keyword === "COPY" || keyword === "ADD") {
      for (const h of args.matchAll(HEREDOC)) {
        const strip = h[1] === "-"
        const name = h[3]!
        const body: Array<string> = []
        for (;;) {
          if (n >= lines.length) fail(line, argsColumn + (h.index ?? 0), `heredoc <<${name} has no terminating line "${name}"`)
          const l = lines[n++]!
          const cmp = strip ? l.replace(/^\t+/, "") : l
          if (cmp === name) break
          body.push(cmp)
        }
        heredocs.push({ name, body: body.length > 0 ? `${body.join("\n")}\n` : "" })
      }
    }
    let json: Array<string> | undefined
    if (args.startsWith("[")) {
      try {
        const v: unknown = JSON.parse(args)
        if (Array.isArray(v) && v.every((s) => typeof s === "string")) json = v
      } catch {
        // not JSON: the shell form, as docker takes it
      }
    }
    const needsArgs = keyword !== "HEALTHCHECK"
    if (needsArgs && args === "") fail(line, column, `${keyword} needs arguments`)
    instructions.push({
      keyword,
      args,
      ...(json === undefined ? {} : { json }),
      flags,
      heredocs,
      line,
      column,
      argsColumn,
      text: `${keyword} ${joined.slice(m[0].length).trim()}`.trim()
    })
  }
  if (!instructions.some((i) => i.keyword === "FROM")) fail(1, 1, "no FROM instruction: a Containerfile starts with FROM (ARG may come before it)")
  const firstNonArg = instructions.find((i) => i.keyword !== "ARG")
  if (firstNonArg !== undefined && firstNonArg.keyword !== "FROM") fail(firstNonArg.line, firstNonArg.column, `${firstNonArg.keyword} before the first FROM (only ARG may come before FROM)`)
  return { file, escape: esc, instructions }
}

export interface Stage {
  readonly index: number
  readonly name?: string
  readonly from: Instruction
  readonly instructions: ReadonlyArray<Instruction>
}

/** Splits the instructions into stages; ARGs before the first FROM are the global ones. */
export function stagesOf(cf: Containerfile): { globalArgs: Array<Instruction>; stages: Array<Stage> } {
  const globalArgs: Array<Instruction> = []
  const stages: Array<{ index: number; name?: string; from: Instruction; instructions: Array<Instruction> }> = []
  for (const ins of cf.instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(\S+)(?:\s+[Aa][Ss]\s+(\S+))?\s*$/.exec(ins.args)
      if (m === null) throw new BuildSyntaxError({ file: cf.file, line: ins.line, column: ins.argsColumn, reason: "FROM takes IMAGE [AS NAME]" })
      const name = m[2]?.toLowerCase()
      if (name !== undefined) {
        if (!/^[a-z][a-z0-9_.-]*$/.test(name)) throw new BuildSyntaxError({ file: cf.file, line: ins.line, column: ins.argsColumn, reason: `stage name ${JSON.stringify(m[2])} must start with a letter and hold only letters, digits, _ . -` })
        if (stages.some((s) => s.name === name)) throw new BuildSyntaxError({ file: cf.file, line: ins.line, column: ins.argsColumn, reason: `stage name ${JSON.stringify(name)} is used twice` })
      }
      stages.push({ index: stages.length, ...(name === undefined ? {} : { name }), from: ins, instructions: [] })
    } else if (stages.length === 0) globalArgs.push(ins)
    else stages[stages.length - 1]!.instructions.push(ins)
  }
  return { globalArgs, stages }
}
