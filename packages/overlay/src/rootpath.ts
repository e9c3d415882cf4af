import { lstatSync, readlinkSync, realpathSync, type Stats } from "node:fs"
import { showPath, UnsafeEntryError } from "./errors.js"

const SLASH = 0x2f
const DOT = 0x2e
/** Linux's limit on symlinks followed while resolving one path (MAXSYMLINKS is 40; securejoin uses 255). */
const MAX_SYMLINKS = 255

/**
 * Lexically clean a raw archive path as if it were rooted at "/" (umoci's CleanPath): "." and
 * empty components vanish and ".." never climbs above the root. Returns the components; [] is the root.
 */
export function cleanComponents(path: Uint8Array): Buffer[] {
  const p = Buffer.from(path.buffer, path.byteOffset, path.byteLength)
  if (p.includes(0)) throw new UnsafeEntryError({ path: showPath(p), reason: "the name contains a NUL byte" })
  const out: Buffer[] = []
  let start = 0
  for (let i = 0; i <= p.length; i++) {
    if (i < p.length && p[i] !== SLASH) continue
    const c = p.subarray(start, i)
    start = i + 1
    if (c.length === 0 || (c.length === 1 && c[0] === DOT)) continue
    if (c.length === 2 && c[0] === DOT && c[1] === DOT) out.pop()
    else out.push(c)
  }
  return out
}

const isDotDot = (c: Buffer) => c.length === 2 && c[0] === DOT && c[1] === DOT
const isDot = (c: Buffer) => c.length === 1 && c[0] === DOT

/**
 * A directory treated as "/": every path is resolved inside it with symlinks evaluated as if it
 * were the root (like Go's securejoin, used by umoci), so nothing outside can be reached.
 * It keeps a cache of directories it has verified; call `forget()` after removing anything.
 */
export class RootPath {
  /** the root, canonical, as bytes */
  readonly root: Buffer
  private readonly dirs = new Set<string>()

  constructor(root: string) {
    this.root = Buffer.from(realpathSync(root))
  }

  /** Absolute path of components that are already resolved (no symlinks among them). */
  abs(components: readonly Buffer[]): Buffer {
    if (components.length === 0) return this.root
    const parts: Buffer[] = [this.root]
    for (const c of components) parts.push(SLASH_BUF, c)
    return Buffer.concat(parts)
  }

  /** Forget verified directories (after anything under the root was removed or replaced). */
  forget() {
    this.dirs.clear()
  }

  /** Whether `components` is a directory verified (or created) since the last forget(). */
  isKnownDir(components: readonly Buffer[]): boolean {
    return components.length === 0 || this.dirs.has(key(components))
  }

  /** isKnownDir() by the components' key (`key` below: "" is the root). */
  isKnownDirKey(k: string): boolean {
    return k === "" || this.dirs.has(k)
  }

  /** Record that `components` is a real directory (just created by us). */
  knowDir(components: readonly Buffer[]) {
    this.dirs.add(key(components))
  }

  /**
   * Resolve `components` inside the root, following every symlink met (the last one too when
   * `followLast`), with absolute and ".." targets kept inside the root. Components that do not
   * exist are kept lexically. Returns the resolved components (none of them a symlink, except
   * possibly the last when `followLast` is false).
   */
  resolve(components: readonly Buffer[], followLast: boolean, display: Uint8Array | string): Buffer[] {
    const todo = components.slice().reverse() // a stack: next component on top
    const done: Buffer[] = []
    let hops = 0
    let missing = false
    while (todo.length > 0) {
      const c = todo.pop()!
      if (c.length === 0 || isDot(c)) continue
      if (isDotDot(c)) {
        done.pop()
        missing = false
        continue
      }
      done.push(c)
      const last = todo.length === 0
      if (missing || (last && !followLast)) continue
      const k = key(done)
      if (this.dirs.has(k)) continue
      const p = this.abs(done)
      let st: Stats
      try {
        st = lstatSync(p)
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === "ENOENT") {
          missing = true // the rest is created lexically below this point
          continue
        }
        if (code === "ENOTDIR") throw new UnsafeEntryError({ path: showPath(display), reason: `${showPath(Buffer.concat(done.flatMap((x, i) => (i ? [SLASH_BUF, x] : [x]))))} lies below a non-directory` })
        throw e
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINKS) throw new UnsafeEntryError({ path: showPath(display), reason: "too many levels of symbolic links" })
        const target = readlinkSync(p, { encoding: "buffer" })
        done.pop()
        if (target[0] === SLASH) done.length = 0 // absolute targets restart at the root, never the host's "/"
        const parts = splitRaw(target)
        for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]!)
        continue
      }
      if (st.isDirectory()) this.dirs.add(k)
      else if (!last) throw new UnsafeEntryError({ path: showPath(display), reason: `${showPath(k)} is not a directory` })
    }
    return done
  }

  /**
   * Where an archive entry named `path` goes: its parent resolved inside the root (symlinks
   * followed, inside the root) and its own name, which is never followed (umoci: SecureJoin on
   * the directory part only). `name` is undefined for the root itself.
   */
  entry(path: Uint8Array): { parent: Buffer[]; name: Buffer | undefined } {
    const comps = cleanComponents(path)
    const { parent, name } = this.entryOf(comps, key(comps.slice(0, -1)), path)
    return { parent, name }
  }

  /**
   * entry() of components already cleaned, given the key of their parent, with the key of the
   * resolved parent: a parent that is a verified directory resolves to itself (each directory in
   * the set was a real one, no symlink on its way, when it was added), with no key built per
   * component, which is what an entry in a directory already seen costs.
   */
  entryOf(comps: readonly Buffer[], lexicalParentKey: string, display: Uint8Array): { parent: Buffer[]; parentKey: string; name: Buffer | undefined } {
    if (comps.length === 0) return { parent: [], parentKey: "", name: undefined }
    const name = comps[comps.length - 1]!
    const lexical = comps.slice(0, -1)
    if (this.isKnownDirKey(lexicalParentKey)) return { parent: lexical, parentKey: lexicalParentKey, name }
    const parent = this.resolve(lexical, true, display)
    return { parent, parentKey: key(parent), name }
  }
}

const SLASH_BUF = Buffer.from("/")
const key = (components: readonly Buffer[]) => components.map((c) => c.toString("latin1")).join("/")

function splitRaw(p: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = 0; i <= p.length; i++) {
    if (i < p.length && p[i] !== SLASH) continue
    if (i > start) out.push(p.subarray(start, i))
    start = i + 1
  }
  return out
}
