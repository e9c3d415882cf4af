// .containerignore / .dockerignore with docker's rules (moby/patternmatcher): one pattern a
// line, `#` comments, `!` exceptions, paths cleaned and taken from the context root, `*` and
// `?` within one path element, `**` across any number, the last matching pattern decides, and
// a pattern that matches a parent directory matches everything below it.
import { readFile } from "node:fs/promises"
import { join, posix } from "node:path"

interface Pattern {
  readonly regex: RegExp
  readonly exclusion: boolean
}

export class IgnoreMatcher {
  private readonly patterns: ReadonlyArray<Pattern>
  /** some pattern is an exception: an excluded directory must still be walked into */
  readonly hasExceptions: boolean

  constructor(lines: ReadonlyArray<string>) {
    const patterns: Array<Pattern> = []
    for (const raw of lines) {
      let p = raw.trim()
      if (p === "" || p.startsWith("#")) continue
      const exclusion = p.startsWith("!")
      if (exclusion) p = p.slice(1).trim()
      p = posix.normalize(p)
      while (p.startsWith("/")) p = p.slice(1)
      if (p === "" || p === ".") continue
      patterns.push({ regex: toRegex(p), exclusion })
    }
    this.patterns = patterns
    this.hasExceptions = patterns.some((p) => p.exclusion)
  }

  /** Whether the context-relative path (no leading "/") is left out of the build. */
  ignores(rel: string): boolean {
    const parents = rel.split("/")
    let matched = false
    for (const p of this.patterns) {
      let hit = p.regex.test(rel)
      for (let i = 1; !hit && i < parents.length; i++) hit = p.regex.test(parents.slice(0, i).join("/"))
      if (hit) matched = !p.exclusion
    }
    return matched
  }

  /** Reads .containerignore, else .dockerignore, in the context dir (none: ignores nothing). */
  static async load(context: string): Promise<IgnoreMatcher> {
    for (const name of [".containerignore", ".dockerignore"]) {
      const text = await readFile(join(context, name), "utf8").catch(() => undefined)
      if (text !== undefined) return new IgnoreMatcher(text.split(/\r?\n/))
    }
    return new IgnoreMatcher([])
  }
}

/** Go's filepath.Match syntax plus `**` (moby/patternmatcher's regexpMatch). */
export function toRegex(pattern: string): RegExp {
  let re = "^"
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++
        if (pattern[i + 1] === "/") i++
        re += i + 1 >= pattern.length ? ".*" : "(.*/)?"
      } else re += "[^/]*"
    } else if (c === "?") re += "[^/]"
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2)
      if (end < 0) re += "\\["
      else {
        let cls = pattern.slice(i + 1, end)
        if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`
        re += `[${cls.replace(/\\/g, "\\\\")}]`
        i = end
      }
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]!)
    } else re += escapeRe(c)
  }
  return new RegExp(`${re}$`, "s")
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

/** Whether a COPY source holds glob characters (filepath.Match). */
export const isGlob = (s: string) => /[*?[]/.test(s)
