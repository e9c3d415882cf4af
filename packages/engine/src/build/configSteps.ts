// The instructions that change only a stage's image config (and add a history entry with
// empty_layer): each is applied to the state here and returns the text its history records.
import { posix } from "node:path"
import { BuildSyntaxError } from "./errors.js"
import type { Instruction } from "./parser.js"
import { type Config, cfgOf, type State } from "./state.js"
import { type Lookup, pairs, word, words } from "./words.js"

export interface ConfigStepContext {
  /** the Containerfile's escape character */
  readonly escape: string
  /** the Containerfile's name, for syntax errors */
  readonly file: string
  /** values of $NAME in this instruction: the stage's ENV, then its ARGs */
  readonly look: Lookup
  readonly buildArgs: Readonly<Record<string, string>>
  /** the global ARGs (before the first FROM), which `ARG NAME` re-imports */
  readonly globals: ReadonlyMap<string, string | undefined>
  /** a word-level syntax error of `ins` as a BuildSyntaxError */
  readonly syntax: (ins: Instruction, e: unknown) => never
  /** fails the step (BuildStepError) */
  readonly fail: (ins: Instruction, reason: string) => never
}

const setConfig = (state: State, patch: Partial<Config>) => {
  state.config = { ...state.config, config: { ...cfgOf(state), ...patch } }
}

/**
 * Applies a config instruction to `state` and returns what its history entry records after
 * "#(nop) "; undefined for an instruction that changes files (COPY, ADD, RUN).
 */
export function configStep(ins: Instruction, state: State, x: ConfigStepContext): string | undefined {
  const { look, syntax, fail, buildArgs, globals } = x
  const shown = x.file
  const env = () => cfgOf(state).Env ?? []
  const { one, many } = expander(ins, x.escape, look, syntax)
  const cf = { escape: x.escape }
  switch (ins.keyword) {
      case "ARG": {
        const defs = pairsOf(ins, cf.escape, look, syntax)
        for (const [k, v] of defs) state.args.set(k, buildArgs[k] ?? v ?? (globals.has(k) ? globals.get(k) : undefined))
        return `ARG ${defs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join(" ")}`
      }
      case "ENV": {
        const defs = pairsOf(ins, cf.escape, look, syntax, true)
        let e = [...env()]
        for (const [k, v] of defs) {
          if (v === undefined) fail(ins, `ENV ${k} has no value: ENV NAME=VALUE`)
          e = e.filter((x) => !x.startsWith(`${k}=`))
          e.push(`${k}=${v}`)
        }
        setConfig(state, { Env: e })
        return `ENV ${defs.map(([k, v]) => `${k}=${v}`).join(" ")}`
      }
      case "LABEL": {
        const defs = pairsOf(ins, cf.escape, look, syntax, true)
        const labels = { ...(cfgOf(state).Labels ?? {}) }
        for (const [k, v] of defs) labels[k] = v ?? ""
        setConfig(state, { Labels: labels })
        return `LABEL ${defs.map(([k, v]) => `${k}=${v ?? ""}`).join(" ")}`
      }
      case "MAINTAINER": {
        state.config = { ...state.config, author: one(ins.args) }
        return `MAINTAINER ${one(ins.args)}`
      }
      case "WORKDIR": {
        const dir = posix.resolve(cfgOf(state).WorkingDir || "/", one(ins.args))
        setConfig(state, { WorkingDir: dir })
        // created by the stage's next COPY/RUN (in that step's layer), as buildah does
        return `WORKDIR ${dir}`
      }
      case "USER": {
        setConfig(state, { User: one(ins.args) })
        return `USER ${one(ins.args)}`
      }
      case "EXPOSE": {
        const ports = { ...(cfgOf(state).ExposedPorts ?? {}) }
        for (const p of many(ins.args)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) fail(ins, `EXPOSE ${p}: expected PORT[/tcp|udp|sctp]`)
          ports[p.includes("/") ? p.toLowerCase() : `${p}/tcp`] = {}
        }
        setConfig(state, { ExposedPorts: ports })
        return `EXPOSE ${Object.keys(ports).join(" ")}`
      }
      case "VOLUME": {
        const vols = { ...(cfgOf(state).Volumes ?? {}) }
        for (const v of ins.json ?? many(ins.args)) vols[v] = {}
        setConfig(state, { Volumes: vols })
        return `VOLUME ${JSON.stringify(Object.keys(vols))}`
      }
      case "STOPSIGNAL": {
        setConfig(state, { StopSignal: one(ins.args) })
        return `STOPSIGNAL ${one(ins.args)}`
      }
      case "SHELL": {
        if (ins.json === undefined || ins.json.length === 0) throw new BuildSyntaxError({ file: shown, line: ins.line, column: ins.argsColumn, reason: 'SHELL takes the JSON form: SHELL ["executable", "parameters"]' })
        state.shell = [...ins.json]
        return `SHELL ${JSON.stringify(ins.json)}`
      }
      case "ENTRYPOINT":
      case "CMD": {
        const argv = ins.json !== undefined ? [...ins.json] : [...state.shell, ins.args]
        if (ins.keyword === "CMD") {
          setConfig(state, { Cmd: argv })
          state.cmdSet = true
        } else {
          setConfig(state, { Entrypoint: argv })
          // an ENTRYPOINT resets a CMD inherited from the base (docker and buildah do)
          if (!state.cmdSet) {
            const { Cmd: _, ...c } = cfgOf(state)
            state.config = { ...state.config, config: c }
          }
        }
        return `${ins.keyword} ${JSON.stringify(argv)}`
      }
      case "HEALTHCHECK": {
        const hc = healthcheck(ins, shown)
        state.config = { ...state.config, config: { ...cfgOf(state), Healthcheck: hc } as Config }
        return `HEALTHCHECK ${JSON.stringify(hc)}`
      }
  }
  return undefined
}

/** `$NAME` expansion in an instruction's words: one word, or a list of them; a bad one is the instruction's syntax error. */
export function expander(ins: Instruction, esc: string, look: Lookup, syntax: (ins: Instruction, e: unknown) => never) {
  return {
    one: (s: string): string => {
      try {
        return word(s, esc, look)
      } catch (e) {
        return syntax(ins, e)
      }
    },
    many: (s: string): Array<string> => {
      try {
        return words(s, esc, look)
      } catch (e) {
        return syntax(ins, e)
      }
    }
  }
}

export function pairsOf(ins: Instruction, esc: string, look: Lookup, syntax: (ins: Instruction, e: unknown) => never, legacy = false): Array<[string, string | undefined]> {
  try {
    return pairs(ins.args, esc, look, legacy)
  } catch (e) {
    return syntax(ins, e)
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/
const NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }

function healthcheck(ins: Instruction, file: string): Record<string, unknown> {
  const bad = (reason: string) => new BuildSyntaxError({ file, line: ins.line, column: ins.argsColumn, reason })
  const args = ins.args.trim()
  if (/^none$/i.test(args)) return { Test: ["NONE"] }
  const m = /^CMD\s+(.*)$/is.exec(args)
  if (m === null) throw bad("HEALTHCHECK takes [OPTIONS] CMD command, or NONE")
  const rest = m[1]!.trim()
  let test: Array<string>
  try {
    const j: unknown = rest.startsWith("[") ? JSON.parse(rest) : undefined
    test = Array.isArray(j) ? ["CMD", ...(j as Array<string>)] : ["CMD-SHELL", rest]
  } catch {
    test = ["CMD-SHELL", rest]
  }
  const out: Record<string, unknown> = { Test: test }
  const names: Record<string, string> = { interval: "Interval", timeout: "Timeout", "start-period": "StartPeriod", "start-interval": "StartInterval" }
  for (const [flag, value] of Object.entries(ins.flags)) {
    if (flag === "retries") {
      if (typeof value !== "string" || !/^\d+$/.test(value)) throw bad(`--retries=${String(value)}: expected a whole number`)
      out.Retries = Number(value)
      continue
    }
    const d = typeof value === "string" ? DURATION.exec(value) : null
    if (d === null) throw bad(`--${flag}=${String(value)}: expected a duration such as 30s`)
    out[names[flag]!] = Math.round(Number(d[1]) * NS[d[2]!]!)
  }
  return out
}
