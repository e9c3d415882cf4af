import * as Data from "effect/Data"

/** The document kinds this package decodes; used in errors and by {@link decodeDocument}. */
export type DocumentKind =
  | "manifest"
  | "index"
  | "config"
  | "descriptor"
  | "oci-layout"
  | "docker-manifest"
  | "docker-manifest-list"

/**
 * A document failed to decode. `path` is the JSON path of the first failing element
 * (`layers[2].digest`, empty for the whole document), `expected` what the spec requires there,
 * `actual` what was found (JSON, truncated), `offset` the byte offset of a JSON syntax error.
 */
export class OciDecodeError extends Data.TaggedError("OciDecodeError")<{
  readonly document: DocumentKind
  readonly path: string
  readonly expected: string
  readonly actual: string
  readonly offset?: number
}> {
  override get message(): string {
    return `${this.path === "" ? this.document : this.path}: expected ${this.expected}, got ${this.actual}`
  }
}
