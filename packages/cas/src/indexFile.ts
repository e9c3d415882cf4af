// index.json of an image layout: read as other tools wrote it (unknown fields kept, image-spec
// considerations.md "Extensibility"), rewritten only whole and atomically under the index lock.
import { readFile } from "node:fs/promises"
import { type Descriptor, OciDecodeError, OciMediaType, validateDocumentAsync } from "@cairn/oci-spec/lazy"
import { writeFileAtomic } from "./atomicFile.js"
import { IndexFileError } from "./errors.js"
import type { Layout } from "./layout.js"
import { withLock } from "./lockFile.js"

/** index.json as parsed JSON (every field kept) plus its validated manifests. */
export interface IndexDocument {
  readonly json: Record<string, unknown>
  readonly manifests: readonly Descriptor[]
}

/** index.json as JSON: its syntax and outline (an object with schemaVersion 2 and a manifests list). */
function parseIndexJson(path: string, text: string): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new IndexFileError({ path, reason: `not valid JSON, truncated or corrupt (${(e as Error).message})` })
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new IndexFileError({ path, reason: `not an OCI image index: expected a JSON object, got ${Array.isArray(json) ? "an array" : String(json)}` })
  }
  const o = json as Record<string, unknown>
  if (o.schemaVersion !== 2 || !Array.isArray(o.manifests)) {
    const what = o.schemaVersion !== 2 ? `schemaVersion 2, got ${JSON.stringify(o.schemaVersion) ?? "none"}` : `a manifests list, got ${JSON.stringify(o.manifests) ?? "none"}`
    throw new IndexFileError({ path, reason: `not an OCI image index: expected ${what}` })
  }
  return o
}

/** `{ schemaVersion: 2, mediaType?: <OCI index>, manifests: [] }` and nothing else (the outline checked). */
const isBareEmptyIndex = (json: Record<string, unknown>): boolean =>
  (json.manifests as unknown[]).length === 0 &&
  (json.mediaType === undefined || json.mediaType === OciMediaType.ImageIndex) &&
  Object.keys(json).every((k) => k === "schemaVersion" || k === "mediaType" || k === "manifests")

/** Parse index.json bytes; errors name the file and say what is wrong. */
export async function parseIndexFile(path: string, text: string): Promise<IndexDocument> {
  const json = parseIndexJson(path, text)
  // an empty index as cairn and umoci write it: its outline is all there is to check, and the
  // schemas (a third of a command's start-up) are not loaded for it
  if (isBareEmptyIndex(json)) return { json, manifests: [] }
  try {
    const value = await validateDocumentAsync("index", json)
    return { json, manifests: value.manifests }
  } catch (e) {
    if (e instanceof OciDecodeError) throw new IndexFileError({ path, reason: `not an OCI image index: ${e.message}` })
    throw e
  }
}

async function readIndexText(layout: Layout): Promise<string> {
  try {
    return await readFile(layout.indexPath, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new IndexFileError({ path: layout.indexPath, reason: "missing" })
    throw e
  }
}

/**
 * The check of index.json when a store opens: present, JSON, an index's outline. Its manifests are
 * validated in full where they are read (readIndex); checking them here would load the document
 * schemas (effect/Schema, a third of a command's start-up) into every command, `ps` included.
 */
export async function checkIndex(layout: Layout): Promise<void> {
  parseIndexJson(layout.indexPath, await readIndexText(layout))
}

export async function readIndex(layout: Layout): Promise<IndexDocument> {
  return parseIndexFile(layout.indexPath, await readIndexText(layout))
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
