import type { BigIntStats, Stats } from "node:fs"
import { chmod, chown, lstat, mkdir, readdir, rm, utimes } from "node:fs/promises"
import { dirname, join } from "node:path"
import * as Effect from "effect/Effect"
import { runCommand } from "../command.js"
import type { ActiveMount, Driver } from "../driver.js"
import { FileSystemError, InvalidSpecError, type ToolMissingError, UnmountFailedError } from "../errors.js"
import { fsError } from "../mount-command.js"
import { checkPaths, checkTargetFree } from "../preflight.js"
import { type OverlaySpec, overlaySpecEffect } from "../spec.js"
import { clearOpaque, isWhiteoutDevice, type LayerMarks, makeWhiteout, readLayerMarks, setOpaque } from "../whiteout.js"

const io = <A>(operation: string, path: string, f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: fsError(operation, path) })
const lstatOrNull = (path: string) => Effect.promise(() => lstat(path).catch(() => null))
const remove = (path: string) => io("remove", path, () => rm(path, { recursive: true, force: true }))

const cp = (args: ReadonlyArray<string>, path: string) =>
  runCommand("cp", args).pipe(
    Effect.flatMap((r) => (r.exitCode === 0 ? Effect.void : Effect.fail(new FileSystemError({ operation: "cp", path, code: `exit ${r.exitCode}`, detail: r.stderr.trim() }))))
  )

/**
 * Applies one layer in overlay form onto `dst` (overlayfs.rst semantics): whiteouts delete,
 * opaque dirs replace, everything else is copied over by one `cp -a` (hardlinks with `link`,
 * else reflinks where the filesystem has them). Marks copied along are removed afterwards.
 */
const applyLayer = (layer: string, marks: LayerMarks, dst: string, link: boolean) =>
  Effect.gen(function*() {
    const whiteouts: Array<string> = []
    const walk = (rel: string): Effect.Effect<void, FileSystemError> =>
      Effect.gen(function*() {
        const entries = yield* io("readdir", join(layer, rel), () => readdir(join(layer, rel), { withFileTypes: true }))
        for (const e of entries) {
          const child = rel === "" ? e.name : `${rel}/${e.name}`
          const target = join(dst, child)
          const st = yield* io("lstat", join(layer, child), () => lstat(join(layer, child)))
          if (isWhiteoutDevice(st) || marks.whiteouts.has(child)) {
            whiteouts.push(child)
            yield* remove(target)
            continue
          }
          const existing = yield* lstatOrNull(target)
          if (st.isDirectory()) {
            // an opaque dir replaces the lower one; a dir replaces a non-dir
            if (existing !== null && (marks.opaque.has(child) || !existing.isDirectory())) yield* remove(target)
            yield* walk(child)
          } else if (existing?.isDirectory() === true) {
            yield* remove(target)
          }
        }
      })
    yield* walk("")
    yield* cp(["-a", "--remove-destination", link ? "-l" : "--reflink=auto", "--", `${layer}/.`, `${dst}/`], layer)
    for (const w of whiteouts) yield* remove(join(dst, w))
    // removing a whiteout's target touched its parent: give it back the layer's times, as a mount shows them
    for (const parent of new Set(whiteouts.map((w) => (w.includes("/") ? dirname(w) : "")))) {
      const from = yield* io("lstat", join(layer, parent), () => lstat(join(layer, parent)))
      yield* io("set times of", join(dst, parent), () => utimes(join(dst, parent), from.atime, from.mtime))
    }
    for (const o of marks.opaque) yield* clearOpaque(join(dst, o))
  })

/** Identity of an entry at mount time; nanosecond times, since a dir can be recreated within a millisecond. */
interface Seen {
  readonly ino: bigint
  readonly ctimeNs: bigint
  /** statx btime: tells a recreated dir from the same one even when the inode number is reused. */
  readonly birthtimeNs: bigint
  readonly dir: boolean
}

const lstatBig = (path: string) => io("lstat", path, () => lstat(path, { bigint: true }))
const sameEntry = (prev: Seen, st: BigIntStats) =>
  prev.dir === st.isDirectory() && prev.ino === st.ino && prev.birthtimeNs === st.birthtimeNs

const snapshot = (root: string): Effect.Effect<Map<string, Seen>, FileSystemError> =>
  Effect.gen(function*() {
    const out = new Map<string, Seen>()
    const walk = (rel: string): Effect.Effect<void, FileSystemError> =>
      Effect.gen(function*() {
        for (const e of yield* io("readdir", join(root, rel), () => readdir(join(root, rel), { withFileTypes: true }))) {
          const child = rel === "" ? e.name : `${rel}/${e.name}`
          const st = yield* lstatBig(join(root, child))
          out.set(child, { ino: st.ino, ctimeNs: st.ctimeNs, birthtimeNs: st.birthtimeNs, dir: st.isDirectory() })
          if (st.isDirectory()) yield* walk(child)
        }
      })
    yield* walk("")
    return out
  })

const copyMeta = (from: Stats, to: string) =>
  io("copy attributes to", to, async () => {
    await chown(to, from.uid, from.gid).catch(() => undefined) // unprivileged: keep our own ids
    await chmod(to, from.mode & 0o7777)
    await utimes(to, from.atime, from.mtime)
  })

/**
 * Records the container's changes into upper in overlay form, as the kernel would have:
 * new or modified entries copied up, deletions as whiteouts, a dir removed and recreated as
 * an opaque dir. Change detection: inode number and ctime against the mount-time snapshot.
 */
const writeBack = (target: string, upper: string, before: ReadonlyMap<string, Seen>, userxattr: boolean) =>
  Effect.gen(function*() {
    const ensureDir = (rel: string): Effect.Effect<void, FileSystemError> =>
      Effect.gen(function*() {
        if (rel === "") return
        const up = join(upper, rel)
        const existing = yield* lstatOrNull(up)
        if (existing?.isDirectory() === true) return
        yield* ensureDir(rel.includes("/") ? dirname(rel) : "")
        if (existing !== null) yield* remove(up)
        yield* io("mkdir", up, () => mkdir(up))
        yield* copyMeta(yield* io("lstat", join(target, rel), () => lstat(join(target, rel))), up)
      })
    const copyUp = (rel: string) =>
      Effect.gen(function*() {
        yield* ensureDir(rel.includes("/") ? dirname(rel) : "")
        yield* remove(join(upper, rel))
        yield* cp(["-a", "--reflink=auto", "--", join(target, rel), join(upper, rel)], rel)
      })
    const unchangedDirs = new Set<string>([""])
    const present = new Set<string>()
    const walk = (rel: string): Effect.Effect<void, FileSystemError | ToolMissingError> =>
      Effect.gen(function*() {
        for (const e of yield* io("readdir", join(target, rel), () => readdir(join(target, rel), { withFileTypes: true }))) {
          const child = rel === "" ? e.name : `${rel}/${e.name}`
          present.add(child)
          const st = yield* lstatBig(join(target, child))
          const prev = before.get(child)
          if (prev === undefined) {
            yield* copyUp(child)
          } else if (st.isDirectory()) {
            if (!sameEntry(prev, st)) {
              // rm -r + mkdir in a merged view makes an opaque dir (overlayfs.rst "whiteouts and opaque directories")
              yield* copyUp(child)
              yield* setOpaque(join(upper, child), userxattr).pipe(Effect.catchTag("ToolMissingError", (e) => Effect.fail(fsError("set opaque on", join(upper, child))(e))))
            } else {
              if (prev.ctimeNs !== st.ctimeNs) {
                yield* ensureDir(child)
                yield* copyMeta(yield* io("lstat", join(target, child), () => lstat(join(target, child))), join(upper, child))
              }
              unchangedDirs.add(child)
              yield* walk(child)
            }
          } else if (!sameEntry(prev, st) || prev.ctimeNs !== st.ctimeNs) {
            yield* copyUp(child)
          }
        }
      })
    yield* walk("")
    for (const rel of before.keys()) {
      const parent = rel.includes("/") ? dirname(rel) : ""
      if (present.has(rel) || !unchangedDirs.has(parent)) continue
      yield* ensureDir(parent)
      yield* remove(join(upper, rel))
      yield* makeWhiteout(join(upper, rel), join(upper, parent), userxattr).pipe(
        Effect.catchTag("ToolMissingError", (e) => Effect.fail(fsError("whiteout", join(upper, rel))(e)))
      )
    }
  })

const emptyDir = (dir: string) =>
  Effect.gen(function*() {
    for (const name of yield* io("readdir", dir, () => readdir(dir))) yield* remove(join(dir, name))
  })

/**
 * Materializes the merged tree into the target: works without any privilege or kernel
 * support, costs a copy (hardlinks for a read-only view, reflinks or copies for a writable
 * one). Unmount writes changes back into upper in overlay form and empties the target.
 */
export const copyDriver: Driver = {
  name: "copy",
  mount: (input) =>
    Effect.gen(function*() {
      const spec: OverlaySpec = yield* overlaySpecEffect(input)
      yield* checkPaths(spec)
      yield* checkTargetFree(spec.target)
      if ((yield* io("readdir", spec.target, () => readdir(spec.target))).length > 0) {
        return yield* new InvalidSpecError({ field: "target", reason: `${spec.target} is not empty; the copy driver materializes into an empty directory` })
      }
      const layers = [...spec.lowers].reverse()
      if (spec.upper !== undefined) layers.push(spec.upper)
      // a read-only view can share inodes with the lowers; a writable one must not
      const link = spec.upper === undefined
      yield* Effect.gen(function*() {
        const marks = yield* readLayerMarks(layers)
        for (const layer of layers) {
          yield* applyLayer(layer, marks.get(layer) ?? { opaque: new Set(), whiteouts: new Set() }, spec.target, link)
        }
      }).pipe(Effect.onError(() => emptyDir(spec.target).pipe(Effect.ignore)))
      const before = spec.upper === undefined ? undefined : yield* snapshot(spec.target)
      const userxattr = spec.options?.userxattr === true || process.getuid?.() !== 0
      const mounted: ActiveMount = {
        driver: "copy",
        spec,
        path: spec.target,
        unmount: () =>
          Effect.gen(function*() {
            if (spec.upper !== undefined && before !== undefined) yield* writeBack(spec.target, spec.upper, before, userxattr)
            yield* emptyDir(spec.target)
          }).pipe(Effect.mapError((e) => new UnmountFailedError({ target: spec.target, attempts: 1, stderr: e.message })))
      }
      return mounted
    })
}
