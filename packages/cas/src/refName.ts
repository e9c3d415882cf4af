import { InvalidTagError } from "./errors.js"

/** The annotation an image layout uses to name a manifest (image-spec annotations.md). */
export const REF_NAME = "org.opencontainers.image.ref.name"

// annotations.md, org.opencontainers.image.ref.name:
//   ref       ::= component ("/" component)*
//   component ::= alphanum (separator alphanum)*
//   alphanum  ::= [A-Za-z0-9]+
//   separator ::= [-._:@+] | "--"
const component = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
const refGrammar = new RegExp(`^${component}(?:/${component})*$`)

/** Throws InvalidTagError unless `name` matches the ref.name grammar. */
export function validateRefName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new InvalidTagError({ name: String(name), reason: "a tag must be a non-empty string" })
  }
  if (name.length > 4096) throw new InvalidTagError({ name: `${name.slice(0, 40)}...`, reason: "longer than 4096 characters" })
  if (!refGrammar.test(name)) {
    throw new InvalidTagError({
      name,
      reason: 'not an image-spec ref.name: components of [A-Za-z0-9] joined by one of "-._:@+" or "--", separated by "/"'
    })
  }
  return name
}

export function isValidRefName(name: unknown): name is string {
  return typeof name === "string" && name.length > 0 && name.length <= 4096 && refGrammar.test(name)
}
