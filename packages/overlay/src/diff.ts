import { createReadStream } from "node:fs"
import { open } from "node:fs/promises"
import type { Writable } from "node:stream"
import * as Effect from "effect/Effect"
import { DiffSourceError, showPath, UnsupportedUpperError, type XattrReadError } from "./errors.js"
import {
  type LayerOutputOptions,
  type LayerResult,
  type LayerWriteFailure,
  type MtimeOptions,
  normalizeMtime,
  writeLayer
} from "./diff-output.js"
import { compareBytes, type FsNode, scanTree } from "./diff-tree.js"
import { makeHeader, type TarHeader } from "./tar/header.js"
import type { TarWriter } from "./tar/writer.js"
import {
  OPAQUE_WHITEOUT,
  OVERLAY_OPAQUE_VALUE,
  type OverlayXattrNamespace,
  overlayOpaqueXattr,
  overlayWhiteoutXattr,
  whiteoutName
} from "./whiteout.js"

export interface DiffOptions extends LayerOutputOptions, MtimeOptions {
  /** keep sub-second mtimes (PAX records); default false: whole seconds, as Docker and umoci write */
  subsecondMtime?: boolean
  /** diffDirs: compare file bytes when size and metadata are equal (default true) */
  compareContent?: boolean
  /** diffUpper: the overlay xattr namespace, "user" for mounts with `userxattr` (default "trusted") */
  xattrNamespace?: OverlayXattrNamespace
}

/** A layer written by a diff, plus what could not be represented in a tar. */
export interface DiffResult extends LayerResult {
  /** entries left out (sockets), as printable paths */
  skipped: string[]
}

/** One line of `docker diff`: A(dded), C(hanged) or D(eleted), with a "/"-rooted path. */
export interface Change {
  kind: "A" | "C" | "D"
  /** "/"-rooted path, UTF-8 decoded for display */
  path: string
  /** the path relative to the root as raw bytes */
  rawPath: Buffer
}

type Planned =
  | { kind: "node"; node: FsNode; change: "A" | "C" | undefined; xattrs: Map<string, Buffer> }
  | { kind: "whiteout"; dir: Buffer; name: Buffer; mtimeNs: bigint; change: "D" }
  | { kind: "opaque"; dir: FsNode }

const join = (dir: Buffer, name: Buffer) => (dir.length === 0 ? name : Buffer.concat([dir, Buffer.from("/"), name]))

function mtimeOf(ns: bigint, options: DiffOptions): number {
  const billion = 1_000_000_000n
  let sec = ns / billion
  let rem = ns % billion
  if (rem < 0n) {
    sec -= 1n
    rem += billion
  }
  return normalizeMtime(options.subsecondMtime === true ? Number(sec) + Number(rem) / 1e9 : Number(sec), options)
}

function headerOf(node: FsNode, xattrs: Map<string, Buffer>, options: DiffOptions): TarHeader {
  return makeHeader({
    path: node.rel,
    type: node.type === "socket" ? "fifo" : node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    size: node.type === "file" ? node.size : 0,
    mtime: mtimeOf(node.mtimeNs, options),
    linkpath: node.linkpath,
    devmajor: node.devmajor,
    devminor: node.devminor,
    xattrs
  })
}

/** Write planned entries in order; files sharing an inode become tar hardlinks to the first one. */
async function emit(plan: Planned[], writer: TarWriter, options: DiffOptions): Promise<string[]> {
  const skipped: string[] = []
  const inodes = new Map<string, Buffer>()
  for (const p of plan) {
    if (p.kind === "whiteout") {
      await writer.add(
        makeHeader({ path: join(p.dir, whiteoutName(p.name)), type: "file", mode: 0, mtime: mtimeOf(p.mtimeNs, options) })
      )
    } else if (p.kind === "opaque") {
      await writer.add(
        makeHeader({
          path: join(p.dir.rel, Buffer.from(OPAQUE_WHITEOUT)),
          type: "file",
          mode: 0,
          mtime: mtimeOf(p.dir.mtimeNs, options)
        })
      )
    } else if (p.node.type === "socket") {
      skipped.push(showPath(p.node.rel))
    } else {
      const header = headerOf(p.node, p.xattrs, options)
      if (p.node.type === "file" && p.node.nlink > 1) {
        const key = `${p.node.dev}:${p.node.ino}`
        const first = inodes.get(key)
        if (first !== undefined) {
          await writer.add({ ...header, type: "hardlink", size: 0, linkpath: first })
          continue
        }
        inodes.set(key, p.node.rel)
      }
      await writer.add(header, p.node.type === "file" && p.node.size > 0 ? createReadStream(p.node.abs) : undefined)
    }
  }
  return skipped
}

async function writePlan(plan: Planned[], out: Writable | string, options: DiffOptions): Promise<DiffResult> {
  let skipped: string[] = []
  const result = await writeLayer(
    out,
    async (w) => {
      skipped = await emit(plan, w, options)
    },
    options
  )
  return { ...result, skipped }
}

// ---------------------------------------------------------------- overlayfs upper directory

function planUpper(upper: FsNode, options: DiffOptions): Planned[] {
  const ns = options.xattrNamespace ?? "trusted"
  const opaqueKey = overlayOpaqueXattr(ns)
  const whiteoutKey = overlayWhiteoutXattr(ns)
  const overlayPrefix = `${ns}.overlay.`
  const plan: Planned[] = []
  const walk = (dir: FsNode) => {
    for (const c of dir.children ?? []) {
      const isWhiteout =
        (c.type === "char" && c.devmajor === 0 && c.devminor === 0) ||
        (c.type === "file" && c.size === 0 && c.xattrs.has(whiteoutKey))
      if (isWhiteout) {
        plan.push({ kind: "whiteout", dir: dir.rel, name: c.name, mtimeNs: c.mtimeNs, change: "D" })
        continue
      }
      if (c.xattrs.has(`${overlayPrefix}redirect`)) {
        throw new UnsupportedUpperError({ path: showPath(c.rel), feature: "redirect_dir" })
      }
      if (c.xattrs.has(`${overlayPrefix}metacopy`)) {
        throw new UnsupportedUpperError({ path: showPath(c.rel), feature: "metacopy" })
      }
      // overlayfs bookkeeping (opaque, origin, impure, nlink, ...) never goes into a layer
      const xattrs = new Map([...c.xattrs].filter(([k]) => !k.startsWith(overlayPrefix)))
      plan.push({ kind: "node", node: c, change: undefined, xattrs })
      if (c.type === "directory") {
        if (c.xattrs.get(opaqueKey)?.equals(OVERLAY_OPAQUE_VALUE)) plan.push({ kind: "opaque", dir: c })
        walk(c)
      }
    }
  }
  walk(upper)
  return plan
}

/**
 * Turn an overlayfs upper directory into a layer: 0/0 character devices (and xattr whiteouts)
 * become `.wh.<name>`, opaque directories get `.wh..wh..opq`, overlay xattrs are dropped
 * (image-spec layer.md "Whiteouts"; overlayfs.rst "whiteouts and opaque directories").
 */
export async function diffUpper(upper: string, out: Writable | string, options: DiffOptions = {}): Promise<DiffResult> {
  return writePlan(planUpper(await scanTree(upper), options), out, options)
}

/**
 * The `docker diff` listing of an overlay upper directory. `inLower` tells whether a path (raw
 * bytes, relative) exists below, to tell A from C; without it every surviving entry is "C".
 */
export async function changesUpper(
  upper: string,
  inLower?: (rawPath: Buffer) => boolean | Promise<boolean>,
  options: Pick<DiffOptions, "xattrNamespace"> = {}
): Promise<Change[]> {
  const plan = planUpper(await scanTree(upper), options)
  const out: Change[] = []
  for (const p of plan) {
    if (p.kind === "opaque") continue
    const raw = p.kind === "whiteout" ? join(p.dir, p.name) : p.node.rel
    const kind = p.kind === "whiteout" ? "D" : inLower === undefined || (await inLower(raw)) ? "C" : "A"
    out.push(change(kind, raw))
  }
  return sortChanges(out)
}

// ---------------------------------------------------------------- two plain directories

const sameXattrs = (a: Map<string, Buffer>, b: Map<string, Buffer>) => {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) return false
  return true
}

function sameMetadata(lo: FsNode, up: FsNode): boolean {
  return (
    lo.type === up.type &&
    lo.mode === up.mode &&
    lo.uid === up.uid &&
    lo.gid === up.gid &&
    lo.size === up.size &&
    lo.mtimeNs === up.mtimeNs &&
    lo.devmajor === up.devmajor &&
    lo.devminor === up.devminor &&
    lo.linkpath.equals(up.linkpath) &&
    sameXattrs(lo.xattrs, up.xattrs)
  )
}

async function sameContent(a: FsNode, b: FsNode): Promise<boolean> {
  try {
    return await compareFiles(a, b)
  } catch (e) {
    throw new DiffSourceError({ path: showPath(b.abs), operation: "compare contents", reason: e instanceof Error ? e.message : String(e) })
  }
}

async function compareFiles(a: FsNode, b: FsNode): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a.abs, "r"), open(b.abs, "r")])
  try {
    const ba = Buffer.alloc(1 << 16)
    const bb = Buffer.alloc(1 << 16)
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length), fb.read(bb, 0, bb.length)])
      if (ra.bytesRead !== rb.bytesRead) return false
      if (ra.bytesRead === 0) return true
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false
    }
  } finally {
    await Promise.all([fa.close(), fb.close()])
  }
}

async function planDirs(lower: FsNode, upper: FsNode, options: DiffOptions): Promise<{ plan: Planned[]; deleted: Buffer[] }> {
  const deleted: Buffer[] = []
  const addAll = (n: FsNode, into: Planned[], kind: "A" | "C") => {
    into.push({ kind: "node", node: n, change: kind, xattrs: n.xattrs })
    for (const c of n.children ?? []) addAll(c, into, "A")
  }
  const compare = async (lo: FsNode, up: FsNode): Promise<Planned[]> => {
    const out: Planned[] = []
    const loKids = lo.children ?? []
    const upKids = up.children ?? []
    const upNames = new Set(upKids.map((c) => c.name.toString("latin1")))
    // every lower child gone: one opaque marker instead of a whiteout each (layer.md "Opaque Whiteout")
    if (loKids.length > 1 && loKids.every((c) => !upNames.has(c.name.toString("latin1")))) {
      out.push({ kind: "opaque", dir: up })
      for (const c of loKids) deleted.push(c.rel)
      for (const c of upKids) addAll(c, out, "A")
      return out
    }
    let i = 0
    let j = 0
    while (i < loKids.length || j < upKids.length) {
      const l = loKids[i]
      const u = upKids[j]
      const order = l === undefined ? 1 : u === undefined ? -1 : compareBytes(l.name, u.name)
      if (order < 0 && l !== undefined) {
        out.push({ kind: "whiteout", dir: up.rel, name: l.name, mtimeNs: up.mtimeNs, change: "D" })
        deleted.push(l.rel)
        i++
      } else if (order > 0 && u !== undefined) {
        addAll(u, out, "A")
        j++
      } else if (l !== undefined && u !== undefined) {
        i++
        j++
        if (l.type !== u.type) {
          addAll(u, out, "C")
        } else if (u.type === "directory") {
          const inner = await compare(l, u)
          const changed = !sameMetadata(l, u)
          // parents of changed entries are written too, so the layer carries their metadata
          if (changed || inner.length > 0) out.push({ kind: "node", node: u, change: changed ? "C" : undefined, xattrs: u.xattrs })
          out.push(...inner)
        } else if (
          !sameMetadata(l, u) ||
          (u.type === "file" && options.compareContent !== false && u.size > 0 && !(await sameContent(l, u)))
        ) {
          out.push({ kind: "node", node: u, change: "C", xattrs: u.xattrs })
        }
      }
    }
    return out
  }
  return { plan: await compare(lower, upper), deleted }
}

/**
 * Diff two plain directory trees into a layer: additions and modifications (type, mode, owner,
 * size, mtime, xattrs, link target, device numbers, then content) as entries, deletions as
 * `.wh.<name>`, a directory whose lower children are all gone as `.wh..wh..opq`.
 */
export async function diffDirs(
  lower: string,
  upper: string,
  out: Writable | string,
  options: DiffOptions = {}
): Promise<DiffResult> {
  const [lo, up] = await Promise.all([scanTree(lower), scanTree(upper)])
  return writePlan((await planDirs(lo, up, options)).plan, out, options)
}

function change(kind: Change["kind"], raw: Buffer): Change {
  return { kind, path: `/${raw.toString("utf8")}`, rawPath: raw }
}
const sortChanges = (c: Change[]) => c.sort((a, b) => compareBytes(a.rawPath, b.rawPath))

/** The `docker diff` listing between two plain directories (A/C/D, sorted by path bytes). */
export async function changes(lower: string, upper: string, options: Pick<DiffOptions, "compareContent"> = {}): Promise<Change[]> {
  const [lo, up] = await Promise.all([scanTree(lower), scanTree(upper)])
  const { plan, deleted } = await planDirs(lo, up, options)
  const out: Change[] = deleted.map((d) => change("D", d))
  for (const p of plan) if (p.kind === "node" && p.change !== undefined) out.push(change(p.change, p.node.rel))
  return sortChanges(out)
}

/** Every typed failure of diffUpper / diffDirs / changes. */
export type DiffError = DiffSourceError | XattrReadError | UnsupportedUpperError | LayerWriteFailure

/** Effect form of diffUpper: the typed failures in the error channel. */
export const diffUpperEffect = (
  upper: string,
  out: Writable | string,
  options: DiffOptions = {}
): Effect.Effect<DiffResult, DiffError> =>
  Effect.tryPromise({ try: () => diffUpper(upper, out, options), catch: (e) => e as DiffError })

/** Effect form of diffDirs: the typed failures in the error channel. */
export const diffDirsEffect = (
  lower: string,
  upper: string,
  out: Writable | string,
  options: DiffOptions = {}
): Effect.Effect<DiffResult, DiffError> =>
  Effect.tryPromise({ try: () => diffDirs(lower, upper, out, options), catch: (e) => e as DiffError })
