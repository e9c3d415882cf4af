// index.json of an image layout: read as other tools wrote it (unknown fields kept, image-spec
// considerations.md "Extensibility"), rewritten only whole and atomically under the index lock.
import { readFile } from "node:fs/promises"
import { type Descriptor, OciDecodeError, validateDocument } from "@cairn/oci-spec"
import { writeFileAtomic } from "./atomicFile.js"
import { IndexFileError } from "./errors.js"
import type { Layout } from "./layout.js"
import { withLock } from "./lockFile.js"

/** index.json as parsed JSON (every field kept) plus its validated manifests. */
export interface IndexDocument {
  readonly json: Record<string, unknown>
  readonly manifests: readonly Descriptor[]
}

/** Parse index.json bytes; errors name the file and say what is wrong. */
export function parseIndexFile(path: string, text: string): IndexDocument {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new IndexFileError({ path, reason: `not valid JSON, truncated or corrupt (${(e as Error).message})` })
  }
  try {
    const value = validateDocument("index", json)
    return { json: json as Record<string, unknown>, manifests: value.manifests }
  } catch (e) {
    if (e instanceof OciDecodeError) throw new IndexFileError({ path, reason: `not an OCI image index: ${e.message}` })
    throw e
  }
}

export async function readIndex(layout: Layout): Promise<IndexDocument> {
  let text: string
  try {
    text = await readFile(layout.indexPath, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new IndexFileError({ path: layout.indexPath, reason: "missing" })
    throw e
  }
  return parseIndexFile(layout.indexPath, text)
}

/**
 * Read-modify-write index.json under the cross-process index lock: `f` gets the current
 * manifests and returns the new list (or undefined to leave the file untouched).
 */
export async function updateIndex<T>(
  layout: Layout,
  f: (manifests: readonly Descriptor[]) => Promise<{ manifests?: readonly Descriptor[]; result: T }>
): Promise<T> {
  await layout.ensureDir(layout.locksDir)
  return withLock(layout.indexLock, async () => {
    const current = await readIndex(layout)
    const { manifests, result } = await f(current.manifests)
    if (manifests !== undefined) {
      // keep every other field the file had (annotations, mediaType, extensions)
      const next: Record<string, unknown> = { schemaVersion: 2, ...current.json, manifests }
      await writeFileAtomic(layout.indexPath, `${JSON.stringify(next, null, 2)}\n`)
    }
    return result
  })
}
