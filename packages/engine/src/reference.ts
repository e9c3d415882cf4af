// Local image names (distribution reference grammar). Transport strings are parsed in location.ts.
import { InvalidReferenceError } from "./errors.js"

export const DEFAULT_TAG = "latest"

// distribution reference grammar, lowercase path components; tag per distribution-spec
const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/

/** `name[:tag]` -> `name:tag` (default tag latest); the tag is after the last `:` that follows the last `/`. */
export function normalizeName(input: string): string {
  const slash = input.lastIndexOf("/")
  const colon = input.lastIndexOf(":")
  const hasTag = colon > slash
  const name = hasTag ? input.slice(0, colon) : input
  const tag = hasTag ? input.slice(colon + 1) : DEFAULT_TAG
  if (!NAME.test(name)) {
    throw new InvalidReferenceError({ input, reason: "a name is lowercase letters, digits and separators (._-/), e.g. busybox or my/app:1.0" })
  }
  if (!TAG.test(tag)) throw new InvalidReferenceError({ input, reason: "a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -" })
  return `${name}:${tag}`
}

export const isValidName = (input: string): boolean => {
  try {
    normalizeName(input)
    return true
  } catch {
    return false
  }
}
