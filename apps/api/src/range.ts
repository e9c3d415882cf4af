// HTTP Range for blob GETs (RFC 9110 section 14): one byte range; several ranges are answered
// with the whole blob, which the RFC allows ("a server MAY ignore the Range header").

export type RangeResult =
  | { readonly kind: "full" }
  | { readonly kind: "partial"; readonly start: number; readonly end: number }
  | { readonly kind: "unsatisfiable" }

export const parseRange = (header: string | undefined, size: number): RangeResult => {
  if (header === undefined) return { kind: "full" }
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m) return { kind: "full" }
  const [, a = "", b = ""] = m
  if (a === "" && b === "") return { kind: "full" }
  if (a === "") {
    // suffix range: the last N bytes
    const n = Number(b)
    if (n === 0 || size === 0) return { kind: "unsatisfiable" }
    return { kind: "partial", start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1)
  if (b !== "" && Number(b) < start) return { kind: "full" } // syntactically invalid: ignore (RFC 9110 14.2)
  if (start >= size) return { kind: "unsatisfiable" }
  return { kind: "partial", start, end }
}

/** distribution-spec chunked uploads: `Content-Range: <start>-<end>` (inclusive). */
export const parseContentRange = (header: string | undefined): { start: number; end: number } | undefined | "invalid" => {
  if (header === undefined) return undefined
  const m = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim())
  if (!m) return "invalid"
  const start = Number(m[1])
  const end = Number(m[2])
  return end < start ? "invalid" : { start, end }
}
