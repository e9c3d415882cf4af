// Test helpers shared by the diff / flatten / view tests: temp dirs, layer listing, tree listing.
import { execFileSync, spawnSync } from "node:child_process"
import fc from "fast-check"
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable, Writable } from "node:stream"
import { gunzipSync } from "node:zlib"
import { makeHeader, type TarHeader } from "../src/tar/header.js"
import { readTar } from "../src/tar/reader.js"
import { TarWriter } from "../src/tar/writer.js"

export const isRoot = process.getuid?.() === 0

/** A Writable that keeps what it is given. */
export function memorySink() {
  const chunks: Buffer[] = []
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c)
      cb()
    }
  })
  return { sink, bytes: () => Buffer.concat(chunks) }
}

export function tempDirs() {
  const made: string[] = []
  return {
    make(tag = "diff") {
      const d = mkdtempSync(join(tmpdir(), `cairn-${tag}-`))
      made.push(d)
      return d
    },
    cleanup() {
      for (const d of made.splice(0)) {
        try {
          execFileSync("umount", ["-R", d], { stdio: "ignore" })
        } catch {}
        rmSync(d, { recursive: true, force: true })
      }
    }
  }
}

/** Uncompressed tar bytes of a layer blob (gzip, zstd or none, by magic bytes). */
export function tarBytes(blob: Buffer): Buffer {
  if (blob[0] === 0x1f && blob[1] === 0x8b) return gunzipSync(blob)
  if (blob.readUInt32LE(0) === 0xfd2fb528) return execFileSync("zstd", ["-d", "-c", "-q"], { input: blob, maxBuffer: 1 << 30 })
  return blob
}

export interface Listed {
  header: TarHeader
  path: string
  body: Buffer
}

export async function listTar(tar: Buffer): Promise<Listed[]> {
  const out: Listed[] = []
  for await (const e of readTar(Readable.from([tar]))) {
    const chunks: Buffer[] = []
    for await (const c of e.body) chunks.push(c)
    out.push({ header: e.header, path: e.header.path.toString("utf8"), body: Buffer.concat(chunks) })
  }
  return out
}

export const listLayer = async (blob: Buffer) => listTar(tarBytes(blob))

export const sh = (cmd: string, cwd?: string) =>
  execFileSync("sh", ["-c", cmd], { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString()

/**
 * A comparable listing of a tree: path, type, mode, owner, size, content, link target, xattrs
 * (overlay bookkeeping excluded) and, when asked, mtime in whole seconds.
 */
export function treeListing(root: string, options: { mtime?: boolean; skip?: (rel: string) => boolean } = {}): string[] {
  const rows: string[] = []
  const xattrs = new Map<string, string>()
  // stdout even on a non-zero exit: overlayfs lists whiteouts it then fails to stat (see below)
  const dump = spawnSync("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "."], { cwd: root }).stdout.toString("latin1")
  let cur = ""
  for (const line of dump.split("\n")) {
    if (line.startsWith("# file: ")) cur = line.slice(8)
    else if (line.includes("=") && !/^(trusted|user)\.overlay\./u.test(line)) xattrs.set(cur, `${xattrs.get(cur) ?? ""}${line};`)
  }
  const walk = (rel: string) => {
    const abs = rel === "" ? root : join(root, rel)
    for (const name of readdirSync(abs).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`
      if (options.skip?.(r)) continue
      // overlayfs lists whiteouts of a directory that exists in one layer only, but lookups fail:
      // such a name is not in the tree for anyone who stats it
      const st = lstatSync(join(root, r), { throwIfNoEntry: false })
      if (st === undefined) continue
      const type = st.isDirectory() ? "d" : st.isFile() ? "f" : st.isSymbolicLink() ? "l" : st.isCharacterDevice() ? "c" : st.isFIFO() ? "p" : "?"
      const extra =
        type === "f"
          ? `${st.size}:${readFileSync(join(root, r)).toString("base64")}`
          : type === "l"
            ? readlinkSync(join(root, r))
            : type === "c"
              ? String(st.rdev)
              : ""
      const mt = options.mtime ? ` mtime=${Math.floor(st.mtimeMs / 1000)}` : ""
      rows.push(`${r} ${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${extra} ${xattrs.get(r) ?? ""}${mt}`)
      if (type === "d") walk(r)
    }
  }
  walk("")
  return rows
}

/** A layer entry for tests: [path, type-specific spec]. */
export type Spec =
  | { path: string; type: "file"; body?: string; mode?: number; mtime?: number; xattrs?: Record<string, string> }
  | { path: string; type: "directory"; mode?: number; mtime?: number }
  | { path: string; type: "symlink"; target: string }
  | { path: string; type: "hardlink"; target: string }
  | { path: string; type: "whiteout" }
  | { path: string; type: "opaque" }

/** Build an uncompressed layer tar from specs with cairn's TarWriter. */
export async function buildLayer(specs: readonly Spec[]): Promise<Buffer> {
  const out = memorySink()
  const w = new TarWriter(out.sink)
  for (const s of specs) {
    const slash = s.path.lastIndexOf("/")
    const dir = slash < 0 ? "" : s.path.slice(0, slash + 1)
    const base = s.path.slice(slash + 1)
    switch (s.type) {
      case "file": {
        const body = Buffer.from(s.body ?? "")
        const xattrs = new Map(Object.entries(s.xattrs ?? {}).map(([k, v]) => [k, Buffer.from(v)]))
        await w.add(makeHeader({ path: Buffer.from(s.path), type: "file", size: body.length, mode: s.mode ?? 0o644, mtime: s.mtime ?? 1_700_000_000, xattrs }), body)
        break
      }
      case "directory":
        await w.add(makeHeader({ path: Buffer.from(s.path), type: "directory", mode: s.mode ?? 0o755, mtime: s.mtime ?? 1_700_000_000 }))
        break
      case "symlink":
      case "hardlink":
        await w.add(makeHeader({ path: Buffer.from(s.path), type: s.type, linkpath: Buffer.from(s.target), mtime: 1_700_000_000 }))
        break
      case "whiteout":
        await w.add(makeHeader({ path: Buffer.from(`${dir}.wh.${base}`), type: "file", mode: 0o644 }))
        break
      case "opaque":
        await w.add(makeHeader({ path: Buffer.from(`${s.path}/.wh..wh..opq`), type: "file", mode: 0o644 }))
        break
    }
  }
  await w.finish()
  return out.bytes()
}

// ---------------------------------------------------------------- random layers for property tests


type Op =
  | { kind: "file"; path: string; body: string; mode: number; xattr: string }
  | { kind: "directory"; path: string; mode: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "hardlink"; path: string; target: string }
  | { kind: "whiteout"; path: string }
  | { kind: "opaque"; path: string }

const pathArb = fc.array(fc.constantFrom("a", "b", "x"), { minLength: 1, maxLength: 3 }).map((a) => a.join("/"))
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("file" as const), path: pathArb, body: fc.constantFrom("", "1", "22", "hello"), mode: fc.constantFrom(0o644, 0o600, 0o755), xattr: fc.constantFrom("", "", "1", "\u00ff") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("directory" as const), path: pathArb, mode: fc.constantFrom(0o755, 0o700) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("symlink" as const), path: pathArb, target: fc.constantFrom("x", "../a", "/b/x", "nowhere") }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hardlink" as const), path: pathArb, target: pathArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("whiteout" as const), path: pathArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("opaque" as const), path: pathArb }) }
)

/**
 * Turn random operations into a well-formed layer, as real layer writers produce them: every
 * entry's parents are explicit directories of the same layer (so overlay-form and flat apply
 * agree on their metadata), one entry per path, hardlinks to earlier files of the same layer,
 * no whiteout of what the layer itself adds.
 */
export function normalizeLayer(ops: readonly Op[]): Spec[] {
  const entries = new Map<string, Spec>()
  const whiteouts = new Set<string>()
  const opaques = new Set<string>()
  const ancestors = (p: string) => p.split("/").slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join("/"))
  const ensureParents = (p: string): boolean => {
    for (const a of ancestors(p)) {
      const e = entries.get(a)
      if (e !== undefined && e.type !== "directory") return false
    }
    for (const a of ancestors(p)) if (!entries.has(a)) entries.set(a, { path: a, type: "directory", mode: 0o755 })
    return true
  }
  for (const op of ops) {
    if (op.kind === "whiteout" || op.kind === "opaque") {
      if (op.kind === "opaque") {
        const e = entries.get(op.path)
        if (e !== undefined && e.type !== "directory") continue
        if (!ensureParents(op.path)) continue
        if (e === undefined) entries.set(op.path, { path: op.path, type: "directory", mode: 0o755 })
        opaques.add(op.path)
      } else {
        if (entries.has(op.path) || !ensureParents(op.path)) continue
        whiteouts.add(op.path)
      }
      continue
    }
    if (entries.has(op.path) || whiteouts.has(op.path)) continue
    if (op.kind === "hardlink") {
      const t = entries.get(op.target)
      if (t?.type !== "file") continue
    }
    if (!ensureParents(op.path)) continue
    switch (op.kind) {
      case "file":
        entries.set(op.path, { path: op.path, type: "file", body: op.body, mode: op.mode, ...(op.xattr === "" ? {} : { xattrs: { "user.k": op.xattr } }) })
        break
      case "directory":
        entries.set(op.path, { path: op.path, type: "directory", mode: op.mode })
        break
      case "symlink":
        entries.set(op.path, { path: op.path, type: "symlink", target: op.target })
        break
      case "hardlink":
        entries.set(op.path, { path: op.path, type: "hardlink", target: op.target })
        break
    }
  }
  for (const w of [...whiteouts]) if (entries.has(w) || [...entries.keys()].some((k) => k.startsWith(`${w}/`))) whiteouts.delete(w)
  const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  const sorted = [...entries.values()].sort((a, b) => byPath(a.path, b.path))
  const out: Spec[] = sorted.filter((s) => s.type !== "hardlink")
  for (const o of [...opaques].sort(byPath)) out.splice(out.findIndex((s) => s.path === o) + 1, 0, { path: o, type: "opaque" })
  for (const w of [...whiteouts].sort(byPath)) out.push({ path: w, type: "whiteout" })
  out.push(...sorted.filter((s) => s.type === "hardlink"))
  return out
}

export const layerArb = fc.array(opArb, { maxLength: 10 }).map(normalizeLayer)
export const stackArb = fc.array(layerArb, { minLength: 1, maxLength: 4 })
export const stress = process.env.CAIRN_STRESS === "1"
export const numRuns = (base: number) => (stress ? base * 20 : base)
/** Per-test timeout for property tests: the stress count needs far longer than the default. */
export const propertyTimeout = stress ? 3_600_000 : 120_000
