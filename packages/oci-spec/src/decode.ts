// Decoding of OCI / Docker documents from their exact bytes (the digest is over those bytes, never
// over a re-serialization: descriptor.md "Digests"). The schemas (effect/Schema, ~80 modules) are
// loaded at the first decode, not when this module is: a command that decodes nothing never
// loads them (validate.ts holds them).
import { type Digest, digestAlgorithm, digestBytes } from "@cairn/digest"
import * as Effect from "effect/Effect"
import { decodeData } from "./data.js"
import type { Descriptor } from "./descriptor.js"
import type { DockerManifest, DockerManifestList } from "./docker.js"
import { dockerToOciIndex } from "./dockerConvert.js"
import type { ImageConfig } from "./imageConfig.js"
import type { ImageIndex } from "./imageIndex.js"
import type { ImageManifest } from "./imageManifest.js"
import { jsonErrorIndex } from "./jsonSyntax.js"
import { type DocumentKind, OciDecodeError } from "./ociDecodeError.js"
import type { OciLayout } from "./ociLayout.js"
import { DockerMediaType, OciMediaType } from "./mediaTypes.js"

let validator: Promise<typeof import("./validate.js")> | undefined
const loadValidator = () => (validator ??= import("./validate.js"))

/** {@link validateDocument} without loading the schemas up front: they load at the first call. */
export const validateDocumentAsync = async <K extends DocumentKind>(document: K, json: unknown): Promise<DocumentTypes[K]> =>
  (await loadValidator()).validateDocument(document, json)

/** The decoded value of each document kind. */
export interface DocumentTypes {
  manifest: ImageManifest
  index: ImageIndex
  config: ImageConfig
  descriptor: Descriptor
  "oci-layout": OciLayout
  "docker-manifest": DockerManifest
  "docker-manifest-list": DockerManifestList
}

/** A decoded document next to the exact bytes it came from and their digest. */
export interface Decoded<T> {
  readonly value: T
  readonly bytes: Uint8Array
  readonly digest: Digest
  readonly size: number
}

export interface DecodeOptions {
  /** Algorithm for `Decoded.digest` (default sha256). */
  readonly algorithm?: "sha256" | "sha512"
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** Parses JSON text, reporting syntax errors with their byte offset. */
export const parseJson = (document: DocumentKind, bytes: Uint8Array): unknown => {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new OciDecodeError({ document, path: "", expected: "UTF-8 JSON", actual: "invalid UTF-8" })
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    const index = jsonErrorIndex(text)
    const offset = index === undefined ? undefined : Buffer.byteLength(text.slice(0, index))
    const where = offset === undefined ? "" : ` at byte ${offset}`
    throw new OciDecodeError({
      document,
      path: "",
      expected: "well-formed JSON",
      actual: `a syntax error${where} (${(e as Error).message})`,
      ...(offset === undefined ? {} : { offset })
    })
  }
}

const embedded = (value: unknown): Array<[string, Descriptor]> => {
  const out: Array<[string, Descriptor]> = []
  const v = value as Record<string, unknown>
  const add = (path: string, d: unknown) => {
    if (d !== null && typeof d === "object" && typeof (d as Descriptor).data === "string") out.push([path, d as Descriptor])
  }
  if (typeof v.mediaType === "string" && typeof v.digest === "string") add("", v)
  add("config", v.config)
  add("subject", v.subject)
  for (const key of ["layers", "manifests"] as const) {
    const list = v[key]
    if (Array.isArray(list)) for (const [i, d] of list.entries()) add(`${key}[${i}]`, d)
  }
  return out
}

// descriptor.md "Embedded data": the decoded data MUST match the descriptor's digest.
const verifyEmbedded = async (document: DocumentKind, value: unknown): Promise<void> => {
  for (const [path, d] of embedded(value)) {
    const actual = await digestBytes(decodeData(d.data!)!, digestAlgorithm(d.digest))
    if (actual !== d.digest) {
      const p = path === "" ? "data" : `${path}.data`
      throw new OciDecodeError({ document, path: p, expected: `data hashing to ${d.digest}`, actual: `data hashing to ${actual}` })
    }
  }
}

const toBytes = (input: Uint8Array | string): Uint8Array =>
  typeof input === "string" ? new TextEncoder().encode(input) : input

/** Decodes a document of the given kind from its exact bytes. Rejects with {@link OciDecodeError}. */
export const decodeDocument = async <K extends DocumentKind>(
  document: K,
  input: Uint8Array | string,
  options: DecodeOptions = {}
): Promise<Decoded<DocumentTypes[K]>> => {
  const bytes = toBytes(input)
  const { validateDocument } = await loadValidator()
  const value = validateDocument(document, parseJson(document, bytes))
  await verifyEmbedded(document, value)
  const digest = await digestBytes(bytes, options.algorithm ?? "sha256")
  return { value, bytes, digest, size: bytes.length }
}

/** Effect form of {@link decodeDocument}. */
export const decodeDocumentEffect = <K extends DocumentKind>(
  document: K,
  input: Uint8Array | string,
  options: DecodeOptions = {}
): Effect.Effect<Decoded<DocumentTypes[K]>, OciDecodeError> =>
  Effect.tryPromise({ try: () => decodeDocument(document, input, options), catch: (e) => e }).pipe(
    // anything but a decode error is a defect (e.g. the hashing backend failed to load)
    Effect.catch((e) => (e instanceof OciDecodeError ? Effect.fail(e) : Effect.die(e)))
  )

type Decoder<K extends DocumentKind> = (input: Uint8Array | string, options?: DecodeOptions) => Promise<Decoded<DocumentTypes[K]>>
const decoder =
  <K extends DocumentKind>(k: K): Decoder<K> =>
  (input, options) =>
    decodeDocument(k, input, options)

export const decodeManifest = decoder("manifest")
export const decodeIndex = decoder("index")
export const decodeConfig = decoder("config")
export const decodeDescriptor = decoder("descriptor")
export const decodeOciLayout = decoder("oci-layout")
export const decodeDockerManifest = decoder("docker-manifest")
export const decodeDockerManifestList = decoder("docker-manifest-list")

/** The manifest-like document kinds a registry may serve under one reference. */
export type ManifestKind = "manifest" | "index" | "docker-manifest" | "docker-manifest-list"

export type AnyManifest = { [K in ManifestKind]: { readonly kind: K } & Decoded<DocumentTypes[K]> }[ManifestKind]

const kindOfMediaType: Readonly<Record<string, ManifestKind>> = {
  [OciMediaType.ImageManifest]: "manifest",
  [OciMediaType.ImageIndex]: "index",
  [DockerMediaType.Manifest]: "docker-manifest",
  [DockerMediaType.ManifestList]: "docker-manifest-list"
}

/**
 * Decodes a manifest, index, Docker manifest or manifest list, telling them apart by `mediaType`
 * (the HTTP Content-Type when given, else the document's own field, else its shape).
 */
export const decodeAnyManifest = async (
  input: Uint8Array | string,
  mediaType?: string,
  options: DecodeOptions = {}
): Promise<AnyManifest> => {
  const bytes = toBytes(input)
  const sniff = (): ManifestKind => {
    const json = parseJson("manifest", bytes) as Record<string, unknown> | null
    const own = json !== null && typeof json === "object" ? json.mediaType : undefined
    if (typeof own === "string" && Object.hasOwn(kindOfMediaType, own)) return kindOfMediaType[own]!
    return json !== null && typeof json === "object" && "manifests" in json ? "index" : "manifest"
  }
  const kind =
    mediaType !== undefined && Object.hasOwn(kindOfMediaType, mediaType) ? kindOfMediaType[mediaType]! : sniff()
  const decoded = await decodeDocument(kind, bytes, options)
  return { kind, ...decoded } as AnyManifest
}

/** A decoded index as OCI (a Docker manifest list converted); undefined for an image manifest. */
export const asOciIndex = (doc: AnyManifest): ImageIndex | undefined =>
  doc.kind === "index" ? doc.value : doc.kind === "docker-manifest-list" ? dockerToOciIndex(doc.value) : undefined
