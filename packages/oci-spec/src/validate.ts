// Validation of parsed documents against the schemas, with errors that name the JSON path, what
// was expected and what came. Loaded by decode.ts at the first decode.
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { DocumentTypes } from "./decode.js"
import { Descriptor } from "./descriptor.js"
import { DockerManifest, DockerManifestList } from "./docker.js"
import { ImageConfig } from "./imageConfig.js"
import { ImageIndex } from "./imageIndex.js"
import { ImageManifest } from "./imageManifest.js"
import { type DocumentKind, OciDecodeError } from "./ociDecodeError.js"
import { OciLayout } from "./ociLayout.js"

const schemas = {
  manifest: ImageManifest,
  index: ImageIndex,
  config: ImageConfig,
  descriptor: Descriptor,
  "oci-layout": OciLayout,
  "docker-manifest": DockerManifest,
  "docker-manifest-list": DockerManifestList
} as const

/** `["layers", 2, "digest"]` -> `layers[2].digest`; keys that are not identifiers are quoted. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path
    .map((k, i) => {
      if (typeof k === "number") return `[${k}]`
      const s = String(k)
      if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) return i === 0 ? s : `.${s}`
      return `[${JSON.stringify(s)}]`
    })
    .join("")

const show = (v: unknown): string => {
  if (v === undefined) return "nothing"
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

const at = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let v = root
  for (const k of path) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, k)) return undefined
    v = (v as Record<PropertyKey, unknown>)[k]
  }
  return v
}

const standard = SchemaIssue.makeFormatterStandardSchemaV1()

const issueToError = (document: DocumentKind, input: unknown, issue: SchemaIssue.Issue): OciDecodeError => {
  const first = standard(issue).issues[0]
  const path = (first?.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p))
  const message = first?.message ?? "a valid document"
  const expected =
    message === "Missing key"
      ? "a value (required field)"
      : message.startsWith("Expected ")
        ? message.slice("Expected ".length)
        : message
  return new OciDecodeError({ document, path: formatPath(path), expected, actual: show(at(input, path)) })
}

// manifest.md / image-index.md: mediaType SHOULD be set; when it is absent, tell a manifest from an
// index by shape so the error says "this is the other document" instead of "config missing".
const shapeMismatch = (document: DocumentKind, json: unknown): OciDecodeError | undefined => {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return undefined
  const o = json as Record<string, unknown>
  if (o.mediaType !== undefined) return undefined
  if ((document === "manifest" || document === "docker-manifest") && "manifests" in o && !("config" in o)) {
    return new OciDecodeError({ document, path: "", expected: "an image manifest (config, layers)", actual: "an image index (manifests)" })
  }
  if ((document === "index" || document === "docker-manifest-list") && "config" in o && !("manifests" in o)) {
    return new OciDecodeError({ document, path: "", expected: "an image index (manifests)", actual: "an image manifest (config, layers)" })
  }
  return undefined
}

/** Validates an already parsed JSON value as a document (throws {@link OciDecodeError}). */
export const validateDocument = <K extends DocumentKind>(document: K, json: unknown): DocumentTypes[K] => {
  const mismatch = shapeMismatch(document, json)
  if (mismatch) throw mismatch
  const r = Schema.decodeUnknownResult(schemas[document] as unknown as Schema.Codec<DocumentTypes[K]>)(json)
  if (Result.isFailure(r)) throw issueToError(document, json, r.failure.issue)
  return r.success
}

