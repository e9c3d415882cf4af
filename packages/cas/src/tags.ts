// Tags are index.json entries annotated with org.opencontainers.image.ref.name (image-layout.md
// "index.json file", annotations.md), the form skopeo's oci:DIR:TAG and umoci's DIR:TAG read.
import { type Digest, parseDigest } from "@cairn/digest"
import type { Descriptor } from "@cairn/oci-spec/lazy"
import type { BlobStore } from "./blobStore.js"
import { BlobNotFoundError, TagNotFoundError } from "./errors.js"
import { readIndex, updateIndex } from "./indexFile.js"
import { REF_NAME, validateRefName } from "./refName.js"
import { descriptorForDigest } from "./roots.js"

export interface TagEntry {
  readonly name: string
  readonly descriptor: Descriptor
}

/** What to tag: a full descriptor (kept as given, platform and annotations included) or a digest. */
export type TagTarget = Descriptor | Digest | string

/** Point `name` at `target`, replacing what it named before. The target blob must be stored. */
export async function tag(blobs: BlobStore, name: string, target: TagTarget): Promise<Descriptor> {
  validateRefName(name)
  const given = typeof target === "string" ? undefined : target
  const digest = parseDigest(typeof target === "string" ? target : target.digest)
  return updateIndex(blobs.layout, async (manifests) => {
    // checked under the index lock, which GC also holds: the blob cannot vanish before the tag lands
    const base = given ?? (await descriptorForDigest(blobs, digest))
    const s = await blobs.stat(digest)
    if (!s || !base) throw new BlobNotFoundError({ digest, chain: [] })
    const descriptor: Descriptor = { ...base, size: s.size, annotations: { ...(base.annotations ?? {}), [REF_NAME]: name } }
    const rest = manifests.filter((m) => m.annotations?.[REF_NAME] !== name)
    return { manifests: [...rest, descriptor], result: descriptor }
  })
}

/** Remove a tag; false when there was none. Blobs stay until GC. */
export async function untag(blobs: BlobStore, name: string): Promise<boolean> {
  validateRefName(name)
  return updateIndex(blobs.layout, async (manifests) => {
    const rest = manifests.filter((m) => m.annotations?.[REF_NAME] !== name)
    return rest.length === manifests.length ? { result: false } : { manifests: rest, result: true }
  })
}

export async function resolveTag(blobs: BlobStore, name: string): Promise<Descriptor> {
  validateRefName(name)
  const { manifests } = await readIndex(blobs.layout)
  // the last entry wins should another tool have left duplicates
  const found = manifests.filter((m) => m.annotations?.[REF_NAME] === name).at(-1)
  if (!found) throw new TagNotFoundError({ name, path: blobs.layout.indexPath })
  return found
}

export async function listTags(blobs: BlobStore): Promise<TagEntry[]> {
  const { manifests } = await readIndex(blobs.layout)
  const out: TagEntry[] = []
  for (const m of manifests) {
    const name = m.annotations?.[REF_NAME]
    if (name !== undefined) out.push({ name, descriptor: m })
  }
  return out
}

/** Add an untagged root to index.json (kept alive by GC, listed by no tag); no-op when present. */
export async function addRoot(blobs: BlobStore, descriptor: Descriptor): Promise<void> {
  await updateIndex(blobs.layout, async (manifests) => {
    if (!(await blobs.has(descriptor.digest))) throw new BlobNotFoundError({ digest: descriptor.digest, chain: [] })
    if (manifests.some((m) => m.digest === descriptor.digest && m.annotations?.[REF_NAME] === undefined)) return { result: undefined }
    return { manifests: [...manifests, descriptor], result: undefined }
  })
}
