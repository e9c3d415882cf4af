// A descriptor's embedded `data` (descriptor.md "Embedded data"), without the schemas.
const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Decodes a descriptor's `data` field (strict RFC 4648 base64, as descriptor.md requires). */
export const decodeData = (data: string): Uint8Array | undefined =>
  base64.test(data) ? new Uint8Array(Buffer.from(data, "base64")) : undefined
