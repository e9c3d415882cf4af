// A tree listing: what "this tool's output is correct" means for the scoreboard.
// One line per entry (path, type, mode, uid, gid, size, link target), sorted by path bytes,
// plus the sha256 of a deterministic sample of regular files' contents.
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { lstat, readdir, readlink } from "node:fs/promises"
import { join } from "node:path"

/** @typedef {{ entries: string[], files: number, bytes: number, sample: string[], sampleHash: string }} Listing */

const typeOf = (/** @type {import("node:fs").Stats} */ st) =>
  st.isFile() ? "f" : st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : st.isFIFO() ? "p" : "?"

/**
 * Walks `root` (the root itself is not listed) without following symlinks.
 * @param {string} root
 * @returns {Promise<Array<{ path: string, line: string, type: string, size: number }>>}
 */
export async function walk(root) {
  /** @type {Array<{ path: string, line: string, type: string, size: number }>} */
  const out = []
  /** @param {string} rel */
  const visit = async (rel) => {
    const names = (await readdir(join(root, rel))).sort()
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`
      const abs = join(root, path)
      const st = await lstat(abs)
      const type = typeOf(st)
      const size = type === "f" ? st.size : 0
      const link = type === "l" ? await readlink(abs) : ""
      const mode = (st.mode & 0o7777).toString(8)
      out.push({ path, type, size, line: `${path} ${type} ${mode} ${st.uid}:${st.gid} ${size} ${link}` })
      if (type === "d") await visit(path)
    }
  }
  await visit("")
  out.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
  return out
}

/** @param {string} file */
export const sha256File = (file) =>
  new Promise((resolve, reject) => {
    const h = createHash("sha256")
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on("data", (c) => h.update(c))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")))
  })

/**
 * Lists `root` and hashes a sample of its regular files: up to `sampleCount` spread evenly,
 * always including the largest file.
 * @param {string} root
 * @param {number} [sampleCount]
 * @returns {Promise<Listing>}
 */
export async function listTree(root, sampleCount = 64) {
  const all = await walk(root)
  const files = all.filter((e) => e.type === "f")
  const bytes = files.reduce((s, e) => s + e.size, 0)
  const step = Math.max(1, Math.floor(files.length / sampleCount))
  const picked = new Set()
  for (let i = 0; i < files.length && picked.size < sampleCount; i += step) picked.add(files[i].path)
  const largest = files.reduce((m, e) => (m === undefined || e.size > m.size ? e : m), undefined)
  if (largest) picked.add(largest.path)
  const sample = [...picked].sort()
  const h = createHash("sha256")
  for (const p of sample) h.update(`${p} ${await sha256File(join(root, p))}\n`)
  return { entries: all.map((e) => e.line), files: files.length, bytes, sample, sampleHash: h.digest("hex") }
}

/**
 * Checks `root` against an expected listing; returns undefined when identical, else a reason
 * naming the first differences.
 * @param {string} root
 * @param {Listing} expected
 * @returns {Promise<string | undefined>}
 */
export async function checkTree(root, expected) {
  return checkUnion(root, [expected])
}

/**
 * Checks `root` against the union of listings of disjoint trees laid one over the other (the
 * layers of a multi-layer image without whiteouts): every entry of every listing present, an
 * entry they share (a parent dir) identical in each, nothing else; and each listing's content
 * sample hashing as recorded.
 * @param {string} root
 * @param {Listing[]} listings
 * @returns {Promise<string | undefined>}
 */
export async function checkUnion(root, listings) {
  const all = await walk(root)
  const got = all.map((e) => e.line)
  // a line holds every field of one path, and walk lists each path once: equal sets = equal trees
  const wantSet = new Set(listings.flatMap((l) => l.entries))
  const want = [...wantSet]
  if (got.length !== wantSet.size || got.some((l) => !wantSet.has(l))) {
    const have = new Set(got)
    const missing = want.filter((l) => !have.has(l)).slice(0, 3)
    const extra = got.filter((l) => !wantSet.has(l)).slice(0, 3)
    return `listing differs (${got.length} entries, expected ${want.length}); missing: ${JSON.stringify(missing)}; unexpected: ${JSON.stringify(extra)}`
  }
  for (const expected of listings) {
    const h = createHash("sha256")
    for (const p of expected.sample) h.update(`${p} ${await sha256File(join(root, p))}\n`)
    const sampleHash = h.digest("hex")
    if (sampleHash !== expected.sampleHash) return `content sample hash ${sampleHash} != expected ${expected.sampleHash}`
  }
  return undefined
}
