// Local image names and transport strings (skopeo's spelling: containers-transports(5)).
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

export type Transport =
  | { readonly kind: "oci"; readonly path: string; readonly ref?: string }
  | { readonly kind: "oci-archive"; readonly path: string; readonly ref?: string }
  | { readonly kind: "docker-archive"; readonly path: string; readonly ref?: string }
  | { readonly kind: "docker"; readonly ref: string }
  | { readonly kind: "local"; readonly image: string }

const withRef = (kind: "oci" | "oci-archive" | "docker-archive", rest: string, input: string): Transport => {
  // skopeo splits PATH:REF at the first colon (containers/image internal.SplitPathAndImage)
  const i = rest.indexOf(":")
  const path = i < 0 ? rest : rest.slice(0, i)
  const ref = i < 0 ? "" : rest.slice(i + 1)
  if (path === "") throw new InvalidReferenceError({ input, reason: `${kind}: needs a path, e.g. ${kind}:/tmp/image${kind === "oci" ? ":tag" : ""}` })
  return ref === "" ? { kind, path } : { kind, path, ref }
}

/** Parses `oci:PATH[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`, `docker://REF`, `local:IMAGE`. */
export function parseTransport(input: string, allowBareLocal = false): Transport {
  if (input.startsWith("docker://")) {
    const ref = input.slice("docker://".length)
    if (ref === "") throw new InvalidReferenceError({ input, reason: "docker:// needs a reference, e.g. docker://127.0.0.1:5000/library/busybox:latest" })
    return { kind: "docker", ref }
  }
  for (const kind of ["oci-archive", "docker-archive", "oci"] as const) {
    if (input.startsWith(`${kind}:`)) return withRef(kind, input.slice(kind.length + 1), input)
  }
  if (input.startsWith("local:")) return { kind: "local", image: input.slice("local:".length) }
  if (allowBareLocal) return { kind: "local", image: input }
  throw new InvalidReferenceError({
    input,
    reason: "expected a transport: oci:PATH[:TAG], oci-archive:FILE, docker-archive:FILE, docker://REF or local:IMAGE"
  })
}
