/**
 * Rootless encoding: without CAP_CHOWN an entry's owner is kept in the `user.rootlesscontainers`
 * xattr, as umoci does (github.com/rootless-containers/proto, rootlesscontainers.proto).
 */
import { ROOTLESS_XATTR } from "./whiteout.js"

export { ROOTLESS_XATTR }

/** umoci's rootlesscontainers.proto Resource message: uid = field 1, gid = field 2, varints, zero omitted. */
export function rootlessOwnerXattr(uid: number, gid: number): Buffer {
  const out: number[] = []
  const varint = (v: number) => {
    while (v > 0x7f) {
      out.push((v & 0x7f) | 0x80)
      v = Math.floor(v / 128)
    }
    out.push(v)
  }
  if (uid !== 0) {
    out.push(0x08)
    varint(uid)
  }
  if (gid !== 0) {
    out.push(0x10)
    varint(gid)
  }
  return Buffer.from(out)
}

/** The xattrs an entry gets in a rootless apply: its own, plus its owner when that is not 0:0. */
export function withRootlessOwner(xattrs: Map<string, Buffer>, uid: number, gid: number): Map<string, Buffer> {
  const owner = rootlessOwnerXattr(uid, gid)
  if (owner.length === 0) return xattrs
  const out = new Map(xattrs)
  out.set(ROOTLESS_XATTR, owner)
  return out
}
