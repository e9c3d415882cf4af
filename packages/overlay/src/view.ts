import { Readable } from "node:stream"
import * as Effect from "effect/Effect"
import { decompress } from "./compression.js"
import {
  type DecompressionError,
  LayerSourceError,
  showPath,
  type TarChecksumError,
  type TarFormatError,
  type TarTruncatedError,
  type UnsafeEntryError,
  ViewPathError
} from "./errors.js"
import { cleanComponents } from "./rootpath.js"
import { type EntryType, makeHeader, type TarHeader } from "./tar/header.js"
import { readTar } from "./tar/reader.js"
import { classifyWhiteout } from "./whiteout.js"

/** Opens one layer's bytes (compressed or not) from the start, e.g. `() => createReadStream(path)`. */
export type LayerSource = () => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>

/** Where a regular file's bytes are: the body of entry number `ordinal` of layer `layer`. */
export interface ContentRef {
  layer: number
  ordinal: number
  size: number
}

/** One path of the merged tree and the layer that provides it. */
export interface ViewEntry {
  /** path relative to the root, raw bytes */
  path: Buffer
  /** "file" for hardlinks too: they are the file they link to */
  type: EntryType
  /** the metadata in effect: the entry's header, or for a hardlink the header of the file it links to */
  header: TarHeader
  /** index of the layer whose entry put this path here (bottom layer = 0) */
  layer: number
  /** entry number inside that layer */
  ordinal: number
  /** regular files: where the content lives */
  content: ContentRef | undefined
  /** a directory no layer has a header for, created as the parent of an entry */
  implicit: boolean
}

/** What indexing a stack can fail with: a layer that cannot be read, decompressed or parsed. */
export type ViewBuildError =
  | DecompressionError
  | TarChecksumError
  | TarFormatError
  | TarTruncatedError
  | UnsafeEntryError
  | ViewPathError
  | LayerSourceError

/**
 * Typed errors pass through (a source is the caller's: its own typed failures, a store's missing
 * blob say, are theirs to keep); anything else a layer source throws becomes a LayerSourceError.
 */
export function asLayerError(layer: number, e: unknown): Error {
  if (e instanceof Error && "_tag" in e) return e
  return new LayerSourceError({ layer, reason: e instanceof Error ? e.message : String(e) })
}

interface Node extends ViewEntry {
  name: Buffer
  children: Map<string, Node> | undefined
}

/** Callbacks the index builder reports to; the layer analysis is built on them. */
export interface IndexObserver {
  /** `entry` now provides its path; `replaced` is what it shadows (undefined: a new path) */
  provide?(layer: number, entry: ViewEntry, replaced: ViewEntry | undefined): void
  /** `entry` (and its subtree) was removed by a whiteout, an opaque marker, or a type change */
  remove?(layer: number, entry: ViewEntry, cause: "whiteout" | "opaque" | "replaced"): void
}

const key = (b: Buffer) => b.toString("latin1")
const MAX_SYMLINKS = 40

function newRoot(): Node {
  return {
    name: Buffer.alloc(0),
    path: Buffer.alloc(0),
    type: "directory",
    header: makeHeader({ path: Buffer.alloc(0), type: "directory" }),
    layer: -1,
    ordinal: -1,
    content: undefined,
    implicit: true,
    children: new Map()
  }
}

const toView = (n: Node): ViewEntry => ({
  path: n.path,
  type: n.type,
  header: n.header,
  layer: n.layer,
  ordinal: n.ordinal,
  content: n.content,
  implicit: n.implicit
})

function* subtree(n: Node): Generator<Node> {
  yield n
  if (n.children) for (const c of n.children.values()) yield* subtree(c)
}

const joinPath = (dir: Buffer, name: Buffer) => (dir.length === 0 ? name : Buffer.concat([dir, Buffer.from("/"), name]))

/**
 * The index of a layer stack's final tree, built from tar headers alone: for each path, which
 * layer provides it and its metadata, with OCI changeset rules applied per layer (image-spec
 * layer.md: whiteouts and opaque markers hide lower content, never what the same layer adds).
 */
export class MergedView {
  readonly #root: Node
  readonly #layers: readonly LayerSource[]

  private constructor(root: Node, layers: readonly LayerSource[]) {
    this.#root = root
    this.#layers = layers
  }

  /** Read every layer's headers once (bodies are skipped) and index the merged tree. */
  static async build(layers: readonly LayerSource[], observer: IndexObserver = {}): Promise<MergedView> {
    const root = newRoot()
    for (let i = 0; i < layers.length; i++) {
      try {
        await indexLayer(root, i, await layers[i]!(), observer)
      } catch (e) {
        throw asLayerError(i, e)
      }
    }
    return new MergedView(root, layers)
  }

  /** Effect form of build: the typed failures in the error channel. */
  static buildEffect(layers: readonly LayerSource[], observer: IndexObserver = {}): Effect.Effect<MergedView, ViewBuildError> {
    return Effect.tryPromise({ try: () => MergedView.build(layers, observer), catch: (e) => e as ViewBuildError })
  }

  get layerCount() {
    return this.#layers.length
  }

  /** The entry at `path` without following a final symlink (lstat); undefined when absent. */
  stat(path: string | Uint8Array): ViewEntry | undefined {
    const n = resolve(this.#root, toComponents(path), false)
    return n ? toView(n) : undefined
  }

  /** Like stat, but follows symlinks (inside the view, as if its root were "/"). */
  statFollow(path: string | Uint8Array): ViewEntry | undefined {
    const n = resolve(this.#root, toComponents(path), true)
    return n ? toView(n) : undefined
  }

  /** Names in a directory, sorted by their bytes. */
  readdir(path: string | Uint8Array): Buffer[] {
    const n = resolve(this.#root, toComponents(path), true)
    if (n === undefined) throw new ViewPathError({ path: shown(path), reason: "no such file or directory" })
    if (n.children === undefined) throw new ViewPathError({ path: shown(path), reason: "not a directory" })
    return [...n.children.values()].map((c) => c.name).sort(Buffer.compare)
  }

  /** Every entry below `path` (default the root), parents first, siblings sorted by name bytes. */
  *walk(path: string | Uint8Array = ""): Generator<ViewEntry> {
    const start = resolve(this.#root, toComponents(path), true)
    if (start === undefined) throw new ViewPathError({ path: shown(path), reason: "no such file or directory" })
    const visit = function* (n: Node): Generator<ViewEntry> {
      if (n.children === undefined) return
      for (const c of [...n.children.values()].sort((a, b) => Buffer.compare(a.name, b.name))) {
        yield toView(c)
        yield* visit(c)
      }
    }
    yield* visit(start)
  }

  /** Stream a regular file's bytes from the layer that provides them (symlinks are followed). */
  readFile(path: string | Uint8Array): Readable {
    const n = resolve(this.#root, toComponents(path), true)
    if (n === undefined) throw new ViewPathError({ path: shown(path), reason: "no such file or directory" })
    if (n.content === undefined) throw new ViewPathError({ path: shown(path), reason: `not a regular file (${n.type})` })
    return Readable.from(layerBody(this.#layers, n.content), { objectMode: false })
  }
}

/** The body of one entry of one layer, by a fresh sequential read of that layer. */
export async function* layerBody(layers: readonly LayerSource[], ref: ContentRef): AsyncGenerator<Buffer> {
  const source = layers[ref.layer]
  if (source === undefined) throw new ViewPathError({ path: `layer ${ref.layer}`, reason: "no such layer" })
  try {
    const { data } = await decompress(await source())
    let i = 0
    for await (const e of readTar(data)) {
      if (i++ === ref.ordinal) {
        yield* e.body
        return
      }
      await e.skip()
    }
  } catch (e) {
    throw asLayerError(ref.layer, e)
  }
  throw new ViewPathError({ path: `layer ${ref.layer} entry ${ref.ordinal}`, reason: "the layer has fewer entries than when it was indexed" })
}

const shown = (p: string | Uint8Array) => (typeof p === "string" ? JSON.stringify(p) : showPath(p))
const toComponents = (p: string | Uint8Array) => cleanComponents(typeof p === "string" ? Buffer.from(p) : p)

/** Find a node, evaluating symlinks in the parents (and the last component when `follow`) inside the view. */
function resolve(root: Node, components: Buffer[], follow: boolean, hops = { n: 0 }): Node | undefined {
  let cur: Node = root
  for (let i = 0; i < components.length; i++) {
    const next: Node | undefined = cur.children?.get(key(components[i]!))
    if (next === undefined) return undefined
    if (next.type === "symlink" && (i < components.length - 1 || follow)) {
      if (++hops.n > MAX_SYMLINKS) return undefined
      const target = next.header.linkpath
      // absolute targets start at the view's root, relative ones at the link's directory; ".." stops at the root
      const full = target[0] === 0x2f ? target : Buffer.concat([cur.path, Buffer.from("/"), target])
      const resolved = resolve(root, cleanComponents(full), true, hops)
      if (resolved === undefined) return undefined
      cur = resolved
      continue
    }
    cur = next
  }
  return cur
}

/** The directory at exactly these components, following no symlinks; undefined when any is not a directory. */
function lexicalDir(root: Node, components: Buffer[]): Node | undefined {
  let cur: Node | undefined = root
  for (const c of components) {
    cur = cur.children?.get(key(c))
    if (cur?.children === undefined) return undefined
  }
  return cur
}

interface Pending {
  header: TarHeader
  ordinal: number
  components: Buffer[]
}

/** Apply one layer to the index: deletions (opaque, whiteouts) first, then entries in tar order. */
async function indexLayer(root: Node, layer: number, bytes: AsyncIterable<Uint8Array>, observer: IndexObserver) {
  const { data } = await decompress(bytes)
  const opaque: Buffer[][] = []
  const whiteouts: Buffer[][] = []
  const entries: Pending[] = []
  let ordinal = 0
  for await (const e of readTar(data)) {
    await e.skip()
    const components = cleanComponents(e.header.path)
    const ord = ordinal++
    const base = components[components.length - 1]
    if (base === undefined) continue // the root itself ("./"): no entry in the view
    const wh = classifyWhiteout(base)
    if (wh.kind === "opaque") opaque.push(components.slice(0, -1))
    else if (wh.kind === "whiteout") whiteouts.push([...components.slice(0, -1), wh.target])
    else if (wh.kind === "reserved") continue
    else entries.push({ header: e.header, ordinal: ord, components })
  }
  const removeNode = (parent: Node, n: Node, cause: "whiteout" | "opaque" | "replaced") => {
    parent.children?.delete(key(n.name))
    if (observer.remove) for (const s of subtree(n)) observer.remove(layer, toView(s), cause)
  }
  // deletions name lower paths lexically: a whiteout under what a lower layer has as a symlink
  // hides nothing (in overlayfs the layer's directory covers the symlink; flat appliers agree)
  for (const dir of opaque) {
    const d = lexicalDir(root, dir)
    if (d?.children === undefined) continue
    for (const c of [...d.children.values()]) removeNode(d, c, "opaque")
  }
  for (const comps of whiteouts) {
    const parent = lexicalDir(root, comps.slice(0, -1))
    const victim = parent?.children?.get(key(comps[comps.length - 1]!))
    if (parent && victim) removeNode(parent, victim, "whiteout")
  }
  for (const p of entries) {
    const parent = ensureDir(root, p.components.slice(0, -1), layer, p.ordinal, observer)
    const name = p.components[p.components.length - 1]!
    const existing = parent.children!.get(key(name))
    const path = joinPath(parent.path, name)
    let node: Node
    if (p.header.type === "hardlink") {
      const target = resolve(root, cleanComponents(p.header.linkpath), false)
      // a link to nothing or to a directory: appliers reject it too; links to symlinks/devices are fine
      if (target === undefined || target.type === "directory") continue
      node = { ...target, name, path, layer, ordinal: p.ordinal, implicit: false, children: undefined }
    } else {
      node = {
        name,
        path,
        type: p.header.type,
        header: p.header,
        layer,
        ordinal: p.ordinal,
        content: p.header.type === "file" ? { layer, ordinal: p.ordinal, size: p.header.size } : undefined,
        implicit: false,
        children: p.header.type === "directory" ? new Map() : undefined
      }
    }
    if (existing !== undefined) {
      if (existing.type === "directory" && node.type === "directory") {
        node.children = existing.children // a directory entry over a directory changes its metadata only
      } else if (existing.children !== undefined) {
        // a non-directory replacing a directory removes everything below it
        for (const c of existing.children.values()) removeNode(existing, c, "replaced")
      }
    }
    parent.children!.set(key(name), node)
    observer.provide?.(layer, toView(node), existing && toView(existing))
  }
}

/** The directory at `components`, creating implicit parents as appliers do (mode 0755, root-owned). */
function ensureDir(root: Node, components: Buffer[], layer: number, ordinal: number, observer: IndexObserver): Node {
  let cur = root
  for (let i = 0; i < components.length; i++) {
    const c = components[i]!
    let next = cur.children!.get(key(c))
    if (next?.type === "symlink") {
      // writes through a symlinked parent land where it points inside the root (umoci, securejoin)
      const target = resolve(root, components.slice(0, i + 1), true)
      if (target?.children !== undefined) {
        cur = target
        continue
      }
    }
    if (next === undefined || next.children === undefined) {
      if (next !== undefined) {
        cur.children!.delete(key(c))
        if (observer.remove) for (const s of subtree(next)) observer.remove(layer, toView(s), "replaced")
      }
      const path = joinPath(cur.path, c)
      next = {
        name: c,
        path,
        type: "directory",
        header: makeHeader({ path, type: "directory" }),
        layer,
        ordinal,
        content: undefined,
        implicit: true,
        children: new Map()
      }
      cur.children!.set(key(c), next)
      observer.provide?.(layer, toView(next), undefined)
    }
    cur = next
  }
  return cur
}
