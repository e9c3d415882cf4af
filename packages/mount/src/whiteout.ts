import type { Stats } from "node:fs"
import * as Effect from "effect/Effect"
import { runCommand } from "./command.js"
import { FileSystemError, type ToolMissingError } from "./errors.js"
import { unescapeMountField } from "./mountinfo.js"

/** overlayfs.rst "whiteouts and opaque directories": a 0/0 character device hides a lower name. */
export const isWhiteoutDevice = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0

/** Overlay metadata a layer directory carries in xattrs (trusted.* as root, user.* with userxattr). */
export interface LayerMarks {
  /** Directories (relative to the layer root) whose lower contents are hidden. */
  readonly opaque: ReadonlySet<string>
  /** Files that are whiteouts in xattr form (`overlay.whiteout`, Linux 6.7+). */
  readonly whiteouts: ReadonlySet<string>
}

const MARK = /^(trusted|user)\.overlay\.(opaque|whiteout)="?([^"]*)"?$/

/**
 * Reads the overlay xattrs of whole layers in one getfattr(1) call (Node has no xattr API;
 * one process for all layers, not one per layer). Needs the `attr` package.
 */
export const readLayerMarks = (roots: ReadonlyArray<string>): Effect.Effect<Map<string, LayerMarks>, ToolMissingError | FileSystemError> =>
  Effect.gen(function*() {
    const marks = new Map(roots.map((r) => [r, { opaque: new Set<string>(), whiteouts: new Set<string>() }]))
    if (roots.length === 0) return marks
    const r = yield* runCommand("getfattr", ["-R", "-P", "-h", "--absolute-names", "-d", "-m", "^(trusted|user)\\.overlay\\.(opaque|whiteout)$", "--", ...roots])
    if (r.exitCode !== 0 && r.stdout === "") {
      return yield* new FileSystemError({ operation: "getfattr -R", path: roots.join(" "), code: `exit ${r.exitCode}`, detail: r.stderr.trim() })
    }
    // longest root first, so a file is attributed to the innermost layer that holds it
    const byLength = [...roots].sort((a, b) => b.length - a.length)
    let current: { opaque: Set<string>; whiteouts: Set<string> } | undefined
    let file = ""
    for (const line of r.stdout.split("\n")) {
      if (line.startsWith("# file: ")) {
        // getfattr escapes unusual bytes as \ooo like mountinfo does
        const abs = unescapeMountField(line.slice(8))
        const root = byLength.find((x) => abs === x || abs.startsWith(`${x}/`))
        current = root === undefined ? undefined : marks.get(root)
        file = root === undefined || abs === root ? "" : abs.slice(root.length + 1)
        continue
      }
      const m = MARK.exec(line)
      if (m === null || current === undefined) continue
      if (m[2] === "opaque" && m[3] === "y") current.opaque.add(file)
      else if (m[2] === "whiteout") current.whiteouts.add(file)
    }
    return marks
  })

const xattrPrefix = (userxattr: boolean) => (userxattr ? "user" : "trusted")

/** Marks a directory opaque: lower entries of the same path are hidden below it. */
export const setOpaque = (dir: string, userxattr: boolean) =>
  runCommand("setfattr", ["-n", `${xattrPrefix(userxattr)}.overlay.opaque`, "-v", "y", "--", dir]).pipe(
    Effect.flatMap((r) =>
      r.exitCode === 0 ? Effect.void : Effect.fail(new FileSystemError({ operation: "setfattr overlay.opaque on", path: dir, code: `exit ${r.exitCode}`, detail: r.stderr.trim() }))
    )
  )

/** Removes overlay marks copied along with a directory (they mean nothing in a merged tree). */
export const clearOpaque = (dir: string) =>
  Effect.all(["trusted", "user"].map((p) => runCommand("setfattr", ["-x", `${p}.overlay.opaque`, "--", dir]))).pipe(Effect.ignore)

/**
 * Creates a whiteout: a 0/0 character device (needs CAP_MKNOD); failing that, the xattr
 * form (an empty file with overlay.whiteout, its parent marked overlay.whiteouts, Linux 6.7+).
 */
export const makeWhiteout = (path: string, parent: string, userxattr: boolean) =>
  Effect.gen(function*() {
    const dev = yield* runCommand("mknod", ["--", path, "c", "0", "0"])
    if (dev.exitCode === 0) return
    const p = xattrPrefix(userxattr)
    const steps: Array<[string, ReadonlyArray<string>]> = [
      ["touch", ["--", path]],
      ["setfattr", ["-n", `${p}.overlay.whiteout`, "-v", "y", "--", path]],
      ["setfattr", ["-n", `${p}.overlay.whiteouts`, "-v", "y", "--", parent]]
    ]
    for (const [file, args] of steps) {
      const r = yield* runCommand(file, args)
      if (r.exitCode !== 0) return yield* new FileSystemError({ operation: `whiteout (${file})`, path, code: `exit ${r.exitCode}`, detail: `${dev.stderr.trim()}; ${r.stderr.trim()}` })
    }
  })
