// Repository names, tags and references from URL path segments. Everything that reaches the
// store from a path is checked against the distribution-spec grammar first, so `..`, `%2e%2e`,
// absolute paths and NUL bytes never get further than this module.
import { type Digest, isDigest, parseDigest } from "@cairn/digest"

// distribution-spec v1.1 "Pulling manifests": <name> components and <reference> tag grammar
const component = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*"
const NAME = new RegExp(`^${component}(?:/${component})*$`)
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/

/** Distribution-spec repository name, at most 255 characters (the spec's portable limit). */
export const isRepositoryName = (name: string): boolean => name.length <= 255 && NAME.test(name)

export const isTag = (tag: string): boolean => TAG.test(tag)

/** A manifest reference: a tag or a digest (parsed, so the algorithm is one cairn supports). */
export type Reference = { readonly kind: "tag"; readonly tag: string } | { readonly kind: "digest"; readonly digest: Digest }

export const parseReference = (ref: string): Reference | undefined => {
  if (isTag(ref)) return { kind: "tag", tag: ref }
  if (!ref.includes(":")) return undefined
  try {
    return { kind: "digest", digest: parseDigest(ref) }
  } catch {
    return undefined
  }
}

export const parseBlobDigest = (s: string): Digest | undefined => {
  try {
    return parseDigest(s)
  } catch {
    return undefined
  }
}

export { isDigest }

/** The store's index.json ref.name for a repository tag: "<name>:<tag>", as the engine names images. */
export const refName = (name: string, tag: string): string => `${name}:${tag}`

/** Split a ref.name into repository and tag; undefined when it is not a distribution name + tag. */
export const splitRefName = (ref: string): { name: string; tag: string } | undefined => {
  const slash = ref.lastIndexOf("/")
  const colon = ref.lastIndexOf(":")
  if (colon <= slash) return undefined
  const name = ref.slice(0, colon)
  const tag = ref.slice(colon + 1)
  return isRepositoryName(name) && isTag(tag) ? { name, tag } : undefined
}
