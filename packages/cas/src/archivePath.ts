import { posix } from "node:path"
import { UnsafeArchivePathError } from "./errors.js"

const clean = (p: string) => posix.normalize(p).replace(/^\.\//, "").replace(/\/+$/, "")

/**
 * A member name of an archive (tar entry or manifest.json path) as a clean relative path
 * ("./a//b" -> "a/b"). Absolute names and any ".." component are refused: archive content
 * decides nothing outside itself.
 */
export function archiveMemberPath(archive: string, name: string): string {
  if (name.startsWith("/") || name.includes("\0") || name.split("/").includes("..")) {
    throw new UnsafeArchivePathError({ archive, path: name })
  }
  const p = clean(name)
  return p === "." ? "" : p
}

/** Where a symlink member points, relative to the archive root; refused when it leaves the archive. */
export function archiveLinkTarget(archive: string, member: string, target: string): string {
  if (target.startsWith("/") || target.includes("\0")) throw new UnsafeArchivePathError({ archive, path: target })
  const p = clean(posix.join(posix.dirname(member), target))
  if (p === ".." || p.startsWith("../") || p === ".") throw new UnsafeArchivePathError({ archive, path: target })
  return p
}
