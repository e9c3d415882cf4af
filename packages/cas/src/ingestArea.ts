// The ingest area seen from outside a write: which digests live writers hold, the partial ingests
// with their age (for df, GC and fsck), and the debris of dead writers.
import { readdir, readFile, stat } from "node:fs/promises"
import { join } from "node:path"
import { type Algorithm, type Digest, formatDigest } from "@cairn/digest"
import { tempFilePid } from "./atomicFile.js"
import type { Layout } from "./layout.js"
import { cleanLockDebris, holderAlive, removeIfStale } from "./lockFile.js"

/** Digests with an ingest being written right now by a live process. */
export async function activeIngests(layout: Layout): Promise<Set<Digest>> {
  const out = new Set<Digest>()
  let names: string[]
  try {
    names = await readdir(layout.ingestDir)
  } catch {
    return out
  }
  for (const name of names) {
    const m = /^(sha256|sha512)-([0-9a-f]+)\.lock$/.exec(name)
    if (!m) continue
    try {
      const token = await readFile(join(layout.ingestDir, name), "utf8")
      if (holderAlive(token)) out.add(formatDigest(m[1] as Algorithm, m[2] as string))
    } catch {
      // released meanwhile
    }
  }
  return out
}

/** Partial ingests (resumable) with their size and age; `active` when a live writer holds them. */
export async function listIngests(layout: Layout): Promise<Array<{ digest?: Digest; path: string; size: number; mtimeMs: number; active: boolean }>> {
  let names: string[]
  try {
    names = await readdir(layout.ingestDir)
  } catch {
    return []
  }
  const active = await activeIngests(layout)
  const out = []
  for (const name of names) {
    const keyed = /^(sha256|sha512)-([0-9a-f]+)$/.exec(name)
    const pid = tempFilePid(name)
    if (!keyed && pid === undefined) continue
    if (name.endsWith(".lock")) continue
    try {
      const s = await stat(join(layout.ingestDir, name))
      const digest = keyed ? formatDigest(keyed[1] as Algorithm, keyed[2] as string) : undefined
      const live = digest ? active.has(digest) : holderAlive(`${pid}`)
      out.push({ ...(digest ? { digest } : {}), path: join(layout.ingestDir, name), size: s.size, mtimeMs: s.mtimeMs, active: live })
    } catch {
      // gone
    }
  }
  return out
}

/** Partial ingests held by no live writer and untouched for `maxAgeMs` (what GC reclaims, what fsck reports). */
export async function staleIngests(layout: Layout, maxAgeMs: number): Promise<Array<{ digest?: Digest; path: string; size: number; mtimeMs: number }>> {
  if (!(maxAgeMs < Number.POSITIVE_INFINITY)) return []
  const cutoff = Date.now() - maxAgeMs
  return (await listIngests(layout)).filter((i) => !i.active && i.mtimeMs <= cutoff).map(({ active: _, ...rest }) => rest)
}

/** Remove temp files and locks of dead writers (never keyed partials, which resume() can use). */
export async function cleanDebris(layout: Layout): Promise<void> {
  await cleanLockDebris(layout.ingestDir)
  await cleanLockDebris(layout.locksDir)
  let names: string[] = []
  try {
    names = await readdir(layout.ingestDir)
  } catch {
    return
  }
  for (const name of names) if (name.endsWith(".lock")) await removeIfStale(join(layout.ingestDir, name))
}
