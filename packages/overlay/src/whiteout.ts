/**
 * OCI whiteout naming (image-spec layer.md, "Whiteouts") and the overlayfs representation of
 * the same facts (kernel Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories").
 * One place for these names: apply, diff and the merged view all import from here.
 */

/** `.wh.<name>` in a layer removes `<name>` from the layers below. */
export const WHITEOUT_PREFIX = ".wh."
/** `.wh..wh..opq` in a directory hides everything the layers below put in it. */
export const OPAQUE_WHITEOUT = ".wh..wh..opq"
/** Names starting with `.wh..wh.` are reserved for whiteout metadata (layer.md). */
export const WHITEOUT_META_PREFIX = ".wh..wh."

const PREFIX = Buffer.from(WHITEOUT_PREFIX)
const OPAQUE = Buffer.from(OPAQUE_WHITEOUT)
const META = Buffer.from(WHITEOUT_META_PREFIX)

/** What a base name means in a layer tar. */
export type WhiteoutKind =
  | { kind: "none" }
  | { kind: "opaque" }
  /** `.wh.<target>`: remove `target` (raw bytes) from the lower layers */
  | { kind: "whiteout"; target: Buffer }
  /** another reserved `.wh..wh.*` name: not a file, not a whiteout cairn understands */
  | { kind: "reserved" }

/** Classify a base name (raw bytes, no slashes). */
export function classifyWhiteout(base: Uint8Array): WhiteoutKind {
  const b = Buffer.from(base.buffer, base.byteOffset, base.byteLength)
  if (b.length < PREFIX.length || b.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0) return { kind: "none" }
  if (b.equals(OPAQUE)) return { kind: "opaque" }
  if (b.length >= META.length && b.compare(META, 0, META.length, 0, META.length) === 0) return { kind: "reserved" }
  return { kind: "whiteout", target: b.subarray(PREFIX.length) }
}

/** `.wh.<name>` for a base name (string or raw bytes). */
export function whiteoutName(name: Uint8Array | string): Buffer {
  return Buffer.concat([PREFIX, typeof name === "string" ? Buffer.from(name) : name])
}

/** Overlayfs xattr namespaces: `trusted.` as root, `user.` for rootless mounts with `userxattr`. */
export type OverlayXattrNamespace = "trusted" | "user"

/** Opaque directory marker, value "y" (overlayfs.rst, "Whiteouts and opaque directories"). */
export const overlayOpaqueXattr = (ns: OverlayXattrNamespace = "trusted") => `${ns}.overlay.opaque`
/** Whiteout as an xattr on a regular file (overlayfs >= 6.7 "xattr whiteouts"). */
export const overlayWhiteoutXattr = (ns: OverlayXattrNamespace = "trusted") => `${ns}.overlay.whiteout`
export const OVERLAY_OPAQUE_VALUE = Buffer.from("y")

/** An overlayfs whiteout is a character device 0/0. */
export const WHITEOUT_DEVICE = { major: 0, minor: 0 } as const
export const isWhiteoutDevice = (isCharDevice: boolean, rdev: number | bigint) => isCharDevice && Number(rdev) === 0

/** The xattr umoci uses to keep an entry's owner in rootless unpacks (rootlesscontainers.proto). */
export const ROOTLESS_XATTR = "user.rootlesscontainers"
