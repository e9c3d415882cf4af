import { UsageError } from "./errors.js"

/** docker's reference glob (Go path.Match): `*` and `?` stay within one path segment, `[...]` classes. */
export function globMatch(pattern: string, text: string): boolean {
  let re = ""
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!
    if (ch === "*") re += "[^/]*"
    else if (ch === "?") re += "[^/]"
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1)
      if (end < 0) throw new UsageError(`bad pattern "${pattern}": "[" without "]"`)
      const body = pattern.slice(i + 1, end).replace(/^\^/, "!")
      re += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`
      i = end
    } else if (ch === "\\" && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  }
  return new RegExp(`^${re}$`).test(text)
}

/** A name matches a reference pattern as in docker: the whole `repo:tag`, or the repository alone. */
export function referenceMatch(pattern: string, name: string): boolean {
  const slash = name.lastIndexOf("/")
  const colon = name.lastIndexOf(":")
  const repo = colon > slash ? name.slice(0, colon) : name
  return globMatch(pattern, name) || globMatch(pattern, repo)
}

/** `--filter KEY=VALUE` (repeatable) → key → values; keys outside `allowed` are a usage error. */
export function parseFilters(raw: unknown, allowed: readonly string[]): Map<string, string[]> {
  const list = Array.isArray(raw) ? (raw as string[]) : typeof raw === "string" ? [raw] : []
  const out = new Map<string, string[]>()
  for (const f of list) {
    const eq = f.indexOf("=")
    const key = eq < 0 ? f : f.slice(0, eq)
    if (eq < 0 || !allowed.includes(key)) throw new UsageError(`bad --filter "${f}": expected KEY=VALUE with KEY one of ${allowed.join(", ")}`)
    out.set(key, [...(out.get(key) ?? []), f.slice(eq + 1)])
  }
  return out
}
