// Canonical encoding of documents cairn writes: sorted keys, no whitespace, so the same document
// always has the same bytes and digest (image-spec considerations.md "Canonicalization").
import { type Digest, digestBytes } from "@cairn/digest"
import type { Descriptor } from "./descriptor.js"

const canonicalValue = (v: unknown, path: string): unknown => {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError(`${path || "document"}: ${v} has no JSON form`)
    return v
  }
  if (Array.isArray(v)) return v.map((x, i) => canonicalValue(x, `${path}[${i}]`))
  if (typeof v === "object") {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k]
      if (x !== undefined) out[k] = canonicalValue(x, path === "" ? k : `${path}.${k}`)
    }
    return out
  }
  throw new TypeError(`${path || "document"}: a ${typeof v} has no JSON form`)
}

/** Deterministic JSON text: keys sorted by code unit, no insignificant whitespace, undefined omitted. */
export const canonicalJson = (doc: unknown): string => JSON.stringify(canonicalValue(doc, ""))

export interface Encoded {
  readonly bytes: Uint8Array
  readonly digest: Digest
  readonly size: number
}

/** Canonical bytes of a document and their sha256 digest. */
export const encodeCanonical = async (doc: unknown): Promise<Encoded> => {
  const bytes = new TextEncoder().encode(canonicalJson(doc))
  return { bytes, digest: await digestBytes(bytes), size: bytes.length }
}

/** A descriptor for the given bytes (sha256). */
export const descriptorFor = async (
  mediaType: string,
  bytes: Uint8Array,
  extra: Partial<Omit<Descriptor, "mediaType" | "digest" | "size">> = {}
): Promise<Descriptor> => ({ ...extra, mediaType, digest: await digestBytes(bytes), size: bytes.length })
