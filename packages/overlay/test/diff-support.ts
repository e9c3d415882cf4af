// Test helpers shared by the diff / flatten / view tests: temp dirs, layer listing, tree listing.
import { execFileSync } from "node:child_process"
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { gunzipSync } from "node:zlib"
import type { TarHeader } from "../src/tar/header.js"
import { readTar } from "../src/tar/reader.js"

export const isRoot = process.getuid?.() === 0

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
  let xattrs = new Map<string, string>()
  try {
    const dump = execFileSync("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "."], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    }).toString("latin1")
    let cur = ""
    for (const line of dump.split("\n")) {
      if (line.startsWith("# file: ")) cur = line.slice(8)
      else if (line.includes("=") && !/^(trusted|user)\.overlay\./u.test(line)) xattrs.set(cur, `${xattrs.get(cur) ?? ""}${line};`)
    }
  } catch {
    xattrs = new Map()
  }
  const walk = (rel: string) => {
    const abs = rel === "" ? root : join(root, rel)
    for (const name of readdirSync(abs).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`
      if (options.skip?.(r)) continue
      const st = lstatSync(join(root, r))
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
  const { TarWriter } = await import("../src/tar/writer.js")
  const { makeHeader } = await import("../src/tar/header.js")
  const chunks: Buffer[] = []
  const { Writable } = await import("node:stream")
  const w = new TarWriter(new Writable({ write: (c, _e, cb) => (chunks.push(c), cb()) }))
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
  return Buffer.concat(chunks)
}
