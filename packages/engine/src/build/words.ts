// Shell-like word processing of Containerfile arguments (the rules of moby/buildkit's
// shell.Lex): quotes removed, single quotes literal, the esc character escapes the next
// character, $VAR / ${VAR} / ${VAR:-word} / ${VAR:+word} / ${VAR-word} / ${VAR+word} expanded.

/** The value of a variable, or undefined when unset; may throw (an ARG declared without a value). */
export type Lookup = (name: string) => string | undefined

export interface LexOptions {
  readonly esc: string
  readonly lookup: Lookup
  /** split on unquoted whitespace (true) or keep the whole string as one word */
  readonly split: boolean
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/

/** Thrown (and turned into a positioned error by the caller) for malformed syntax. */
export class WordSyntax extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number
  ) {
    super(reason)
  }
}

export function lex(input: string, options: LexOptions): Array<string> {
  const out: Array<string> = []
  let cur = ""
  let inWord = false
  let i = 0
  const esc = options.esc
  const push = () => {
    if (inWord) out.push(cur)
    cur = ""
    inWord = false
  }
  const expand = (): string => {
    // input[i] === "$"
    const start = i
    i++
    if (input[i] === "{") {
      const close = matchingBrace(input, i)
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the Containerfile syntax, not a template
      if (close < 0) throw new WordSyntax("missing } in ${...}", start)
      const body = input.slice(i + 1, close)
      i = close + 1
      const m = NAME.exec(body)
      if (m === null) throw new WordSyntax(`bad substitution \${${body}}`, start)
      const name = m[0]
      const rest = body.slice(name.length)
      const value = options.lookup(name)
      if (rest === "") return value ?? ""
      const op = /^(:?[-+?])/.exec(rest)
      if (op === null) throw new WordSyntax(`unsupported modifier in \${${body}}: use :-, :+, -, + or :?`, start)
      const word = () => lex(rest.slice(op[1]!.length), { ...options, split: false }).join("")
      const colon = op[1]!.startsWith(":")
      const set = colon ? value !== undefined && value !== "" : value !== undefined
      switch (op[1]!.slice(-1)) {
        case "-":
          return set ? value! : word()
        case "+":
          return set ? word() : ""
        default:
          if (!set) throw new WordSyntax(`${name}: ${word() || "is not set"}`, start)
          return value!
      }
    }
    const m = NAME.exec(input.slice(i))
    if (m === null) return "$"
    i += m[0].length
    return options.lookup(m[0]) ?? ""
  }
  while (i < input.length) {
    const c = input[i]!
    if (options.split && /\s/.test(c)) {
      push()
      i++
      continue
    }
    inWord = true
    if (c === esc) {
      if (i + 1 < input.length) cur += input[i + 1]
      i += 2
    } else if (c === "'") {
      const end = input.indexOf("'", i + 1)
      if (end < 0) throw new WordSyntax("unterminated single quote", i)
      cur += input.slice(i + 1, end)
      i = end + 1
    } else if (c === '"') {
      i++
      for (;;) {
        if (i >= input.length) throw new WordSyntax("unterminated double quote", i)
        const d = input[i]!
        if (d === '"') {
          i++
          break
        }
        if (d === esc && i + 1 < input.length && ['"', esc, "$"].includes(input[i + 1]!)) {
          cur += input[i + 1]
          i += 2
        } else if (d === "$") cur += expand()
        else {
          cur += d
          i++
        }
      }
    } else if (c === "$") cur += expand()
    else {
      cur += c
      i++
    }
  }
  push()
  return out
}

function matchingBrace(s: string, open: number): number {
  let depth = 0
  for (let j = open; j < s.length; j++) {
    if (s[j] === "{") depth++
    else if (s[j] === "}" && --depth === 0) return j
  }
  return -1
}

/** The whole string as one word (quotes removed, variables expanded), as WORKDIR, USER and FROM take it. */
export const word = (input: string, esc: string, lookup: Lookup): string => lex(input.trim(), { esc, lookup, split: false }).join("")

/** Whitespace-separated words, as COPY, EXPOSE and VOLUME take them. */
export const words = (input: string, esc: string, lookup: Lookup): Array<string> => lex(input, { esc, lookup, split: true })

/**
 * `key=value ...` pairs (ENV, LABEL, ARG) or the legacy `key value with spaces` form (ENV, LABEL).
 * Keys are not expanded; values are.
 */
export function pairs(input: string, esc: string, lookup: Lookup, legacy: boolean): Array<[string, string | undefined]> {
  const raw = lex(input, { esc, lookup: () => undefined, split: true }) // only to see the shape
  if (raw.length === 0) return []
  const first = input.trim().split(/\s+/)[0]!
  if (legacy && !first.includes("=")) {
    const rest = input.trim().slice(first.length).trim()
    return [[first, word(rest, esc, lookup)]]
  }
  // split raw text into words keeping quotes, then expand each value
  const out: Array<[string, string | undefined]> = []
  for (const w of splitRaw(input, esc)) {
    const eq = w.indexOf("=")
    if (eq < 0) {
      out.push([lex(w, { esc, lookup: () => undefined, split: false }).join(""), undefined])
      continue
    }
    const key = lex(w.slice(0, eq), { esc, lookup: () => undefined, split: false }).join("")
    out.push([key, lex(w.slice(eq + 1), { esc, lookup, split: false }).join("")])
  }
  return out
}

/** Splits on unquoted whitespace, keeping quotes and escapes in each word. */
export function splitRaw(input: string, esc: string): Array<string> {
  const out: Array<string> = []
  let cur = ""
  let quote: string | undefined
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!
    if (quote === undefined && /\s/.test(c)) {
      if (cur !== "") out.push(cur)
      cur = ""
      continue
    }
    if (c === esc && quote !== "'" && i + 1 < input.length) {
      cur += c + input[i + 1]
      i++
      continue
    }
    if (quote === undefined && (c === "'" || c === '"')) quote = c
    else if (c === quote) quote = undefined
    cur += c
  }
  if (quote !== undefined) throw new WordSyntax(`unterminated ${quote === "'" ? "single" : "double"} quote`, input.length)
  if (cur !== "") out.push(cur)
  return out
}
