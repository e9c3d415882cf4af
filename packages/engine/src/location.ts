// Where an image is, typed. Import, export, copy, unpack and bundle take an ImageLocation; a
// string in skopeo's spelling (containers-transports(5)) is parsed into one once, where it enters
// the engine (asLocation). An archive is a file or a stream: bytes arriving (an upload, stdin) to read from,
// or a Writable (a download, stdout) to write to, so nothing is spilled to a file on the way.
import type { Readable, Writable } from "node:stream"
import { InvalidReferenceError, InvalidSourceError } from "./errors.js"

export type ArchiveKind = "oci-archive" | "docker-archive"

/** an OCI image layout directory; `ref` is the `org.opencontainers.image.ref.name` of the image */
export interface OciLayoutLocation {
  readonly kind: "oci"
  readonly path: string
  readonly ref?: string
}
/** an archive file; `ref` names one of its images (a docker-archive RepoTag, an oci-archive ref.name) */
export interface ArchiveFileLocation {
  readonly kind: ArchiveKind
  readonly path: string
  readonly ref?: string
}
/** an archive arriving as a stream (plain tar); `label` is how errors name it (default `<stream>`) */
export interface ArchiveReaderLocation {
  readonly kind: ArchiveKind
  readonly read: Readable | AsyncIterable<Uint8Array>
  readonly ref?: string
  readonly label?: string
}
/** an archive written into a stream (ended when complete, destroyed on failure) */
export interface ArchiveWriterLocation {
  readonly kind: ArchiveKind
  readonly write: Writable
  readonly ref?: string
  readonly label?: string
}
/** a registry: `docker://REF` */
export interface RegistryLocation {
  readonly kind: "docker"
  readonly ref: string
}
/** this engine's store: `local:IMAGE` (an empty image: the source's own name, on copy) */
export interface StoreLocation {
  readonly kind: "local"
  readonly image: string
}

/** what images are read from */
export type ImageSource = OciLayoutLocation | ArchiveFileLocation | ArchiveReaderLocation | RegistryLocation | StoreLocation
/** what images are written to */
export type ImageDestination = OciLayoutLocation | ArchiveFileLocation | ArchiveWriterLocation | RegistryLocation | StoreLocation
export type ImageLocation = ImageSource | ImageDestination

const withRef = (kind: "oci" | ArchiveKind, rest: string, input: string): OciLayoutLocation | ArchiveFileLocation => {
  // skopeo splits PATH:REF at the first colon (containers/image internal.SplitPathAndImage)
  const i = rest.indexOf(":")
  const path = i < 0 ? rest : rest.slice(0, i)
  const ref = i < 0 ? "" : rest.slice(i + 1)
  if (path === "") throw new InvalidReferenceError({ input, reason: `${kind}: needs a path, e.g. ${kind}:/tmp/image${kind === "oci" ? ":tag" : ""}` })
  return ref === "" ? { kind, path } : { kind, path, ref }
}

/**
 * Parses `oci:PATH[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`, `docker://REF`
 * and `local:IMAGE` (a bare IMAGE too, with `allowBareLocal`).
 */
export function parseLocation(input: string, allowBareLocal = false): OciLayoutLocation | ArchiveFileLocation | RegistryLocation | StoreLocation {
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

/** A location given as a string is parsed (parseLocation); one given typed is taken as it is (see holdStreamErrors). */
export const asLocation = <L extends ImageLocation>(input: string | L, allowBareLocal = false): L | ReturnType<typeof parseLocation> =>
  typeof input === "string" ? parseLocation(input, allowBareLocal) : holdStreamErrors(input)

/**
 * An archive stream handed in may fail before the operation reaches it (a connection reset while
 * a lease is taken): with no listener yet, Node would throw that as an uncaught exception. One
 * listener from the start keeps it; the stream remembers the error and the read that comes
 * later fails with it.
 */
export function holdStreamErrors<L extends ImageLocation>(l: L): L {
  const stream = "read" in l ? l.read : "write" in l ? l.write : undefined
  if (stream !== undefined && typeof (stream as { on?: unknown }).on === "function") (stream as NodeJS.EventEmitter).on("error", () => {})
  return l
}

/** How messages name a location: as it would be written (`oci-archive:FILE`), a stream by its label; a string as given. */
export function locationName(l: string | ImageLocation): string {
  if (typeof l === "string") return l
  switch (l.kind) {
    case "docker":
      return `docker://${l.ref}`
    case "local":
      return `local:${l.image}`
    default: {
      const where = "path" in l ? l.path : (l.label ?? "<stream>")
      return `${l.kind}:${where}${l.ref === undefined ? "" : `:${l.ref}`}`
    }
  }
}

/** Narrows a location to what an operation accepts, or says what it accepts. */
export function expectLocation<K extends ImageLocation["kind"]>(
  l: ImageLocation,
  kinds: ReadonlyArray<K>,
  reason: string
): Extract<ImageLocation, { kind: K }> {
  if (!(kinds as ReadonlyArray<string>).includes(l.kind)) throw new InvalidSourceError({ source: locationName(l), reason })
  return l as Extract<ImageLocation, { kind: K }>
}
