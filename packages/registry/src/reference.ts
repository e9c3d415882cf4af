// Image references: `[registry/]repository[:tag][@digest]`, with Docker Hub's defaults
// (distribution/reference normalize.go) and the distribution-spec name grammar.
import { type Digest, parseDigest } from "@cairn/digest"
import { InvalidReferenceError } from "./errors.js"

/** A parsed, normalized reference. At least one of tag and digest is set after parsing. */
export interface Reference {
  /** `host[:port]` as written (docker.io for Docker Hub) */
  readonly registry: string
  /** the repository name, e.g. `library/debian` */
  readonly repository: string
  readonly tag?: string
  readonly digest?: Digest
}

export const DOCKER_HUB = "docker.io"
/** Docker Hub's API endpoint (docker.io itself only serves a website). */
export const DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
export const DEFAULT_TAG = "latest"

// distribution-spec "Pulling manifests": <name> is this grammar.
const pathComponent = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
// spec: tag ::= [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
const tagGrammar = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/
// distribution/reference regexp.go: domain-name (":" port)? or a bracketed IPv6 literal
const domainGrammar =
  /^(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*|\[[A-Fa-f0-9:]+\])(?::[0-9]+)?$/
const maxNameLength = 255

const fail = (input: string, reason: string): never => {
  throw new InvalidReferenceError({ input, reason })
}

// normalize.go splitDockerDomain: the first component is a registry when it looks like a host.
const looksLikeHost = (first: string): boolean =>
  first.includes(".") || first.includes(":") || first === "localhost" || first.toLowerCase() !== first

/**
 * Parses `registry/repo:tag`, `repo@sha256:...`, or both, the way docker does:
 * `debian` is `docker.io/library/debian:latest`, `user/app` is `docker.io/user/app:latest`.
 * Throws {@link InvalidReferenceError} naming the part that is wrong.
 */
export function parseReference(input: string): Reference {
  if (typeof input !== "string" || input === "") return fail(String(input), "empty reference")
  if (/\s/.test(input)) fail(input, "contains whitespace")
  let rest = input
  let digest: Digest | undefined
  const at = rest.indexOf("@")
  if (at >= 0) {
    const d = rest.slice(at + 1)
    try {
      digest = parseDigest(d)
    } catch (e) {
      fail(input, `bad digest after "@": ${(e as Error).message}`)
    }
    rest = rest.slice(0, at)
  }
  let tag: string | undefined
  // a ":" after the last "/" is a tag separator; before it, a port
  const colon = rest.lastIndexOf(":")
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!tagGrammar.test(tag)) {
      fail(input, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}`)
    }
  }
  if (rest === "") fail(input, "no repository name")
  const slash = rest.indexOf("/")
  let registry: string
  let repository: string
  if (slash < 0 || !looksLikeHost(rest.slice(0, slash))) {
    registry = DOCKER_HUB
    repository = rest
  } else {
    registry = rest.slice(0, slash)
    repository = rest.slice(slash + 1)
    if (!domainGrammar.test(registry)) fail(input, `registry ${JSON.stringify(registry)} is not a valid host[:port]`)
  }
  if (registry === "index.docker.io") registry = DOCKER_HUB
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`
  for (const component of repository.split("/")) {
    if (!pathComponent.test(component)) {
      fail(
        input,
        component === ""
          ? "empty path component in the repository name"
          : `repository component ${JSON.stringify(component)} must be lowercase [a-z0-9] separated by ".", "_", "__" or "-"`
      )
    }
  }
  if (registry.length + 1 + repository.length > maxNameLength) fail(input, `name is longer than ${maxNameLength} characters`)
  return {
    registry,
    repository,
    ...(tag === undefined && digest === undefined ? { tag: DEFAULT_TAG } : tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest })
  }
}

/** The canonical string form: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? "" : `:${ref.tag}`}${ref.digest === undefined ? "" : `@${ref.digest}`}`
}

/** What to ask the registry for: the digest when pinned (it wins over a tag, as in docker), else the tag. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG
}

/** Validates a repository name on its own (for push targets and cross-mount sources). */
export function parseRepository(name: string): string {
  for (const component of name.split("/")) {
    if (!pathComponent.test(component)) {
      fail(name, `repository component ${JSON.stringify(component)} must be lowercase [a-z0-9] separated by ".", "_", "__" or "-"`)
    }
  }
  return name
}

/** The host to contact for a registry name: Docker Hub's API host for docker.io. */
export function registryHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry
}

/** Host part of `host[:port]` / `[v6]:port`, without brackets. */
export function hostname(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(1, registry.indexOf("]"))
  const colon = registry.lastIndexOf(":")
  return colon < 0 ? registry : registry.slice(0, colon)
}

/** Loopback registries (127.0.0.0/8, localhost, ::1) get plain HTTP without asking, as in docker. */
export function isLoopbackRegistry(registry: string): boolean {
  const h = hostname(registry).toLowerCase()
  if (h === "localhost" || h.endsWith(".localhost") || h === "::1") return true
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h)
  return m?.slice(1).every((x) => Number(x) <= 255) ?? false
}
