// registries.conf (v2 subset, as podman's containers-registries.conf(5)): per registry prefix an
// upstream location, plain HTTP, a block, and mirrors tried in order before the upstream.
//
//   [[registry]]
//   prefix = "docker.io/library"        # what references start with (default: location)
//   location = "registry.example.com/lib"  # where the upstream really is (default: prefix)
//   insecure = false                     # plain HTTP to this location
//   blocked = false                      # refuse pulls of matching references
//   [[registry.mirror]]
//   location = "mirror.local:5000/lib"
//   insecure = true
//   pull-from-mirror = "all"             # or "digest-only" / "tag-only"
import * as Data from "effect/Data"
import { readFileSync } from "node:fs"
import { parse, TomlError } from "smol-toml"
import type { Reference } from "./reference.js"

export type PullFromMirror = "all" | "digest-only" | "tag-only"

export interface MirrorConfig {
  readonly location: string
  readonly insecure: boolean
  readonly pullFromMirror: PullFromMirror
}

export interface RegistryConfig {
  readonly prefix: string
  readonly location: string
  readonly insecure: boolean
  readonly blocked: boolean
  readonly mirrors: readonly MirrorConfig[]
}

export interface RegistriesConfig {
  /** the file it was read from, when it was */
  readonly file?: string
  readonly registries: readonly RegistryConfig[]
}

/** A registries.conf that cannot be used: bad TOML, an unknown key, a wrong type. */
export class RegistriesConfError extends Data.TaggedError("RegistriesConfError")<{
  readonly file: string
  readonly reason: string
  readonly line?: number
}> {
  override get message() {
    return `registries configuration ${this.file}${this.line === undefined ? "" : ` line ${this.line}`}: ${this.reason}`
  }
}

/** A pull of a reference that a `blocked = true` entry of registries.conf matches. */
export class BlockedRegistryError extends Data.TaggedError("BlockedRegistryError")<{
  readonly reference: string
  readonly prefix: string
  readonly file?: string
}> {
  override get message() {
    return `pulling ${this.reference} is blocked by the registries configuration${this.file ? ` ${this.file}` : ""} (prefix ${JSON.stringify(this.prefix)})`
  }
}

const pullModes: readonly string[] = ["all", "digest-only", "tag-only"]

/** Parses registries.conf text; `file` names it in errors. */
export function parseRegistriesConf(text: string, file = "registries.conf"): RegistriesConfig {
  let doc: Record<string, unknown>
  try {
    doc = parse(text) as Record<string, unknown>
  } catch (e) {
    if (e instanceof TomlError) throw new RegistriesConfError({ file, line: e.line, reason: e.message.split("\n")[0] ?? e.message })
    throw e
  }
  const bad = (reason: string): never => {
    throw new RegistriesConfError({ file, reason })
  }
  const str = (v: unknown, where: string): string | undefined => (v === undefined ? undefined : typeof v === "string" ? v : bad(`${where} must be a string`))
  const bool = (v: unknown, where: string): boolean => (v === undefined ? false : typeof v === "boolean" ? v : bad(`${where} must be true or false`))
  const known = (o: Record<string, unknown>, keys: readonly string[], where: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`unknown key ${JSON.stringify(k)} in ${where} (known: ${keys.join(", ")})`)
  }
  // v1 keys and others cairn does not act on are refused rather than silently ignored
  known(doc, ["registry", "unqualified-search-registries", "short-name-mode"], "the top level")
  const list = doc.registry ?? []
  if (!Array.isArray(list)) bad("[[registry]] must be an array of tables")
  const registries = (list as unknown[]).map((r, i): RegistryConfig => {
    const where = `[[registry]] #${i + 1}`
    if (typeof r !== "object" || r === null) return bad(`${where} must be a table`)
    const o = r as Record<string, unknown>
    known(o, ["prefix", "location", "insecure", "blocked", "mirror"], where)
    const prefix = str(o.prefix, `${where} prefix`)
    const location = str(o.location, `${where} location`)
    if (prefix === undefined && location === undefined) bad(`${where} needs a prefix or a location`)
    const mirrorList = o.mirror ?? []
    if (!Array.isArray(mirrorList)) bad(`${where} mirror must be [[registry.mirror]] tables`)
    const mirrors = (mirrorList as unknown[]).map((m, j): MirrorConfig => {
      const mw = `${where} mirror #${j + 1}`
      if (typeof m !== "object" || m === null) return bad(`${mw} must be a table`)
      const mo = m as Record<string, unknown>
      known(mo, ["location", "insecure", "pull-from-mirror"], mw)
      const loc = str(mo.location, `${mw} location`) ?? bad(`${mw} needs a location`)
      const mode = str(mo["pull-from-mirror"], `${mw} pull-from-mirror`) ?? "all"
      if (!pullModes.includes(mode)) bad(`${mw} pull-from-mirror is ${JSON.stringify(mode)}; expected "all", "digest-only" or "tag-only"`)
      return { location: trimSlash(loc), insecure: bool(mo.insecure, `${mw} insecure`), pullFromMirror: mode as PullFromMirror }
    })
    return {
      prefix: trimSlash(prefix ?? location!),
      location: trimSlash(location ?? prefix!),
      insecure: bool(o.insecure, `${where} insecure`),
      blocked: bool(o.blocked, `${where} blocked`),
      mirrors
    }
  })
  return { ...(file === "registries.conf" ? {} : { file }), registries }
}

/** Reads and parses a registries.conf; a missing file is an empty configuration when `optional`. */
export function loadRegistriesConf(file: string, options: { optional?: boolean } = {}): RegistriesConfig {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    if (options.optional && (e as NodeJS.ErrnoException).code === "ENOENT") return { file, registries: [] }
    throw new RegistriesConfError({ file, reason: `cannot read it: ${(e as Error).message}` })
  }
  return { ...parseRegistriesConf(text, file), file }
}

const trimSlash = (s: string) => s.replace(/\/+$/, "")

/** The entry whose prefix matches `registry/repository` best (longest, on a path boundary). */
export function matchRegistry(conf: RegistriesConfig, ref: Reference): RegistryConfig | undefined {
  const full = `${ref.registry}/${ref.repository}`
  let best: RegistryConfig | undefined
  for (const r of conf.registries) {
    if (full === r.prefix || full.startsWith(`${r.prefix}/`)) {
      if (best === undefined || r.prefix.length > best.prefix.length) best = r
    }
  }
  return best
}

/** One place to try a reference: the rewritten reference, and whether it is a mirror. */
export interface Route {
  readonly ref: Reference
  readonly mirror: boolean
  readonly insecure: boolean
}

/**
 * Where to fetch a reference from, in order: the mirrors allowed for this kind of fetch (by digest
 * or by tag), then the upstream location. Fails with BlockedRegistryError for a blocked prefix.
 */
export function routesFor(conf: RegistriesConfig, ref: Reference, byDigest: boolean): Route[] {
  const entry = matchRegistry(conf, ref)
  if (entry === undefined) return [{ ref, mirror: false, insecure: false }]
  if (entry.blocked) {
    throw new BlockedRegistryError({ reference: `${ref.registry}/${ref.repository}`, prefix: entry.prefix, ...(conf.file ? { file: conf.file } : {}) })
  }
  const rest = `${ref.registry}/${ref.repository}`.slice(entry.prefix.length)
  const at = (location: string): Reference => {
    const full = `${location}${rest}`
    const slash = full.indexOf("/")
    if (slash < 0) return { ...ref, registry: full }
    return { ...ref, registry: full.slice(0, slash), repository: full.slice(slash + 1) }
  }
  const routes: Route[] = []
  for (const m of entry.mirrors) {
    if (m.pullFromMirror === "digest-only" && !byDigest) continue
    if (m.pullFromMirror === "tag-only" && byDigest) continue
    routes.push({ ref: at(m.location), mirror: true, insecure: m.insecure })
  }
  routes.push({ ref: at(entry.location), mirror: false, insecure: entry.insecure })
  return routes
}

/** Registry hosts (`host:port`) the configuration wants plain HTTP for. */
export function insecureHosts(conf: RegistriesConfig): string[] {
  const hosts: string[] = []
  const host = (loc: string) => loc.split("/")[0]!
  for (const r of conf.registries) {
    if (r.insecure) hosts.push(host(r.location))
    for (const m of r.mirrors) if (m.insecure) hosts.push(host(m.location))
  }
  return hosts
}
