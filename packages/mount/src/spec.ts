import { isAbsolute, normalize } from "node:path"
import * as Effect from "effect/Effect"
import { InvalidSpecError } from "./errors.js"

/**
 * overlayfs mount options (Documentation/filesystems/overlayfs.rst). Unset means the
 * kernel default, so a spec says only what it needs.
 */
export interface OverlayOptions {
  /** Keep overlay metadata in `user.overlay.*` xattrs (required inside a user namespace, kernel >= 5.11). */
  readonly userxattr?: boolean
  /** "Redirect dir": rename of a merged directory without a full copy up. */
  readonly redirectDir?: "on" | "off" | "follow" | "nofollow"
  /** "Inode index": keeps hardlinks of lower files hardlinked after copy up. */
  readonly index?: boolean
  /** "Metadata only copy up": chmod/chown does not copy the data. Needs index or redirect_dir. */
  readonly metacopy?: boolean
  /** "Inode numbers": xino keeps st_ino unique across layers. */
  readonly xino?: "on" | "off" | "auto"
  /** "Volatile mount": no syncs to the upper filesystem; the upper is lost on a crash. */
  readonly volatile?: boolean
}

/**
 * A description of one overlay mount, performed by a driver. Pure data, as containerd's
 * `mount.Mount`: snapshotters describe, @cairn/mount performs.
 */
export interface OverlaySpec {
  /** Lower directories, topmost first (the order of overlayfs `lowerdir=`). */
  readonly lowers: ReadonlyArray<string>
  /** Writable layer; without it the mount is a read-only image view. Requires `work`. */
  readonly upper?: string
  /** Empty scratch dir on the upper's filesystem (overlayfs "workdir"). Requires `upper`. */
  readonly work?: string
  /** Where the merged view appears. Must be an existing directory that is not a mount point. */
  readonly target: string
  readonly options?: OverlayOptions
}

const absolute = (field: string, path: unknown): string => {
  if (typeof path !== "string" || path.length === 0) {
    throw new InvalidSpecError({ field, reason: "must be a non-empty string" })
  }
  if (!isAbsolute(path)) throw new InvalidSpecError({ field, reason: `${path} is relative; give an absolute path` })
  if (path.includes("\0")) throw new InvalidSpecError({ field, reason: "contains a NUL byte" })
  // Trailing slashes and `//` would make two names for one directory in mountinfo comparisons.
  const n = normalize(path)
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent === "/" ? "/" : `${parent}/`)

/**
 * Checks the shape of a spec (no filesystem access) and returns it with normalized paths.
 * Throws InvalidSpecError.
 */
export const overlaySpec = (input: OverlaySpec): OverlaySpec => {
  if (!Array.isArray(input.lowers) || input.lowers.length === 0) {
    throw new InvalidSpecError({ field: "lowers", reason: "give at least one lower directory (topmost first)" })
  }
  const lowers = input.lowers.map((p, i) => absolute(`lowers[${i}]`, p))
  const target = absolute("target", input.target)
  if ((input.upper === undefined) !== (input.work === undefined)) {
    throw new InvalidSpecError({
      field: input.upper === undefined ? "upper" : "work",
      reason: "upper and work go together: give both for a writable mount, neither for a read-only view"
    })
  }
  const options = input.options ?? {}
  if (options.metacopy === true && options.redirectDir === "off") {
    throw new InvalidSpecError({ field: "options.metacopy", reason: "metacopy=on needs redirect_dir (overlayfs.rst)" })
  }
  if (options.volatile === true && input.upper === undefined) {
    throw new InvalidSpecError({ field: "options.volatile", reason: "volatile only applies to a writable mount" })
  }
  if (lowers.includes(target)) throw new InvalidSpecError({ field: "target", reason: "the target cannot be one of the lowers" })
  const seen = new Set<string>()
  for (const p of lowers) {
    if (seen.has(p)) throw new InvalidSpecError({ field: "lowers", reason: `${p} is listed twice` })
    seen.add(p)
  }
  if (input.upper !== undefined && input.work !== undefined) {
    const upper = absolute("upper", input.upper)
    const work = absolute("work", input.work)
    if (upper === work) throw new InvalidSpecError({ field: "work", reason: "work must be a different directory than upper" })
    if (seen.has(upper)) throw new InvalidSpecError({ field: "upper", reason: "upper is also a lower" })
    // overlayfs.rst: "workdir needs to be an empty directory on the same filesystem as upperdir", a separate subtree
    if (inside(work, upper) || inside(upper, work)) {
      throw new InvalidSpecError({ field: "work", reason: `${work} and ${upper} are nested; give two sibling directories` })
    }
    if (target === upper || target === work) throw new InvalidSpecError({ field: "target", reason: "the target cannot be the upper or work dir" })
    return { lowers, upper, work, target, options }
  }
  return { lowers, target, options }
}

/** The non-path overlay options, in the kernel's spelling. */
export const featureOptions = (options: OverlayOptions | undefined): Array<string> => {
  const out: Array<string> = []
  if (options === undefined) return out
  if (options.userxattr === true) out.push("userxattr")
  if (options.redirectDir !== undefined) out.push(`redirect_dir=${options.redirectDir}`)
  if (options.index !== undefined) out.push(`index=${options.index ? "on" : "off"}`)
  if (options.metacopy !== undefined) out.push(`metacopy=${options.metacopy ? "on" : "off"}`)
  if (options.xino !== undefined) out.push(`xino=${options.xino}`)
  if (options.volatile === true) out.push("volatile")
  return out
}

/** overlaySpec with its InvalidSpecError in the error channel. */
export const overlaySpecEffect = (input: OverlaySpec): Effect.Effect<OverlaySpec, InvalidSpecError> =>
  Effect.try({
    try: () => overlaySpec(input),
    catch: (e) => (e instanceof InvalidSpecError ? e : new InvalidSpecError({ field: "spec", reason: String(e) }))
  })
