// Content descriptors (image-spec descriptor.md) and the field schemas every document shares.
import { type Digest, parseDigest, UnsupportedAlgorithmError } from "@cairn/digest"
import * as Schema from "effect/Schema"
import { decodeData } from "./data.js"
import { Platform } from "./platformSchema.js"

/**
 * A struct that accepts and keeps unknown keys: image-spec (considerations.md, "Extensibility")
 * requires implementations to ignore unknown properties, and cairn must not drop them on re-encode.
 */
export const openStruct = <const F extends Schema.Struct.Fields>(fields: F) =>
  Schema.StructWithRest(Schema.Struct(fields), [Schema.Record(Schema.String, Schema.Unknown)])

const digestExpectation = (input: string): string | undefined => {
  try {
    parseDigest(input)
    return undefined
  } catch (e) {
    if (e instanceof UnsupportedAlgorithmError) {
      return "a digest with a supported algorithm (sha256:<64 hex> or sha512:<128 hex>)"
    }
    return input.startsWith("sha512:") ? "sha512:<128 hex>" : "sha256:<64 hex>"
  }
}

/**
 * A digest string, validated by @cairn/digest's parser (descriptor.md "Digests").
 * The declaration only admits strings; the filter does the real check so the message can name the
 * expected form for the algorithm at hand.
 */
export const DigestString: Schema.Codec<Digest> = Schema.declare(
  (u: unknown): u is Digest => typeof u === "string",
  { expected: "string" }
).check(Schema.makeFilter((s: Digest) => digestExpectation(s)))

/** Sizes are non-negative int64 in the spec; JS numbers are exact only up to 2^53-1. */
export const Size = Schema.Number.check(
  Schema.makeFilter((n: number) => (Number.isSafeInteger(n) && n >= 0 ? undefined : "a non-negative safe integer"))
)

export const Annotations = Schema.Record(Schema.String, Schema.String)

// RFC 6838 section 4.2 restricted names, which descriptor.md requires of mediaType.
const restrictedName = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
export const MediaTypeString = Schema.String.check(
  Schema.makeFilter((s: string) =>
    new RegExp(`^${restrictedName}/${restrictedName}$`).test(s) ? undefined : "a media type (type/subtype, RFC 6838)"
  )
)

export const Descriptor = openStruct({
  mediaType: MediaTypeString,
  digest: DigestString,
  size: Size,
  urls: Schema.optionalKey(Schema.Array(Schema.String)),
  annotations: Schema.optionalKey(Annotations),
  data: Schema.optionalKey(Schema.String),
  artifactType: Schema.optionalKey(MediaTypeString),
  platform: Schema.optionalKey(Platform)
}).check(
  // descriptor.md "Embedded data": data must be base64 and its length must equal size;
  // the digest of data is verified by the async decoders (hashing lives in @cairn/digest).
  Schema.makeFilter((d: { readonly data?: string; readonly size: number }) => {
    if (d.data === undefined) return undefined
    const bytes = decodeData(d.data)
    if (bytes === undefined) return { path: ["data"], issue: "base64 (RFC 4648)" }
    if (bytes.length !== d.size) {
      return { path: ["data"], issue: `base64 of ${d.size} bytes (size), it decodes to ${bytes.length} bytes` }
    }
    return undefined
  })
)
export type Descriptor = typeof Descriptor.Type
