// Walking the descriptor graph (index -> index/manifest -> config + layers + subject) over any
// blob source. Kept apart from the byte store (umoci's cas/casext split): GC, fsck and copy use it.
import type { Digest } from "@cairn/digest"
import { type Descriptor, DockerMediaType, decodeDocument, type DocumentKind, mayBeAbsent, OciMediaType } from "@cairn/oci-spec/lazy"
import { BlobNotFoundError, GraphCycleError, GraphDepthError, GraphDocumentError } from "./errors.js"

/** What the walk needs from a store. */
export interface GraphSource {
  stat(digest: Digest): Promise<{ size: number } | undefined>
  read(digest: Digest, maxBytes?: number): Promise<Uint8Array>
}

export interface GraphNode {
  readonly descriptor: Descriptor
  /** digests from the root to this node, inclusive */
  readonly chain: readonly Digest[]
  /** the blob's size on disk, undefined when it is missing */
  readonly storedSize: number | undefined
}

export interface WalkOptions {
  /** deepest nesting allowed (default 16: index -> index -> manifest needs 3) */
  readonly maxDepth?: number
  /** "error" (default): BlobNotFoundError naming the chain; "report": list it in `missing` */
  readonly missing?: "error" | "report"
}

export interface WalkResult {
  /** every reachable stored descriptor, once per digest, in visiting order (parents before children) */
  readonly nodes: readonly GraphNode[]
  readonly missing: readonly GraphNode[]
  /**
   * absent non-distributable (foreign) layers with `urls`: allowed to be absent, so neither in
   * `nodes` (nothing to copy or export) nor in `missing` (not an error)
   */
  readonly foreign: readonly GraphNode[]
  /** nodes whose stored blob size differs from the descriptor's size */
  readonly sizeMismatches: readonly GraphNode[]
}

/** Manifests and indexes are small; refuse to read more (distribution-spec suggests 4 MiB). */
export const MAX_DOCUMENT_BYTES = 4 << 20

const documentKind: Readonly<Record<string, DocumentKind>> = {
  [OciMediaType.ImageIndex]: "index",
  [OciMediaType.ImageManifest]: "manifest",
  [DockerMediaType.ManifestList]: "docker-manifest-list",
  [DockerMediaType.Manifest]: "docker-manifest"
}

/** True when the descriptor points at a document with children (a manifest or an index). */
export function hasChildren(mediaType: string): boolean {
  return Object.hasOwn(documentKind, mediaType)
}

/** The descriptors a manifest or index document names, in document order. */
export async function childrenOf(descriptor: Descriptor, bytes: Uint8Array): Promise<Descriptor[]> {
  const kind = documentKind[descriptor.mediaType]
  if (kind === undefined) return []
  const { value } = await decodeDocument(kind, bytes)
  const v = value as { manifests?: readonly Descriptor[]; config?: Descriptor; layers?: readonly Descriptor[]; subject?: Descriptor }
  const out: Descriptor[] = []
  if (v.manifests) out.push(...v.manifests)
  if (v.config) out.push(v.config)
  if (v.layers) out.push(...v.layers)
  if (v.subject) out.push(v.subject)
  return out
}

/**
 * Depth-first walk from `roots`. Each digest is visited once; a digest that reappears on its
 * own path is a cycle (GraphCycleError), a path longer than maxDepth is GraphDepthError, a
 * document that does not decode is GraphDocumentError; all name the digest chain.
 */
export async function walkGraph(source: GraphSource, roots: readonly Descriptor[], options: WalkOptions = {}): Promise<WalkResult> {
  const maxDepth = options.maxDepth ?? 16
  const seen = new Set<Digest>()
  const nodes: GraphNode[] = []
  const missing: GraphNode[] = []
  const sizeMismatches: GraphNode[] = []
  const foreign: GraphNode[] = []

  const visit = async (descriptor: Descriptor, parents: readonly Digest[]): Promise<void> => {
    const digest = descriptor.digest
    const chain = [...parents, digest]
    if (parents.includes(digest)) throw new GraphCycleError({ chain })
    if (chain.length > maxDepth) throw new GraphDepthError({ chain, maxDepth })
    if (seen.has(digest)) return
    seen.add(digest)
    const s = await source.stat(digest)
    const node: GraphNode = { descriptor, chain, storedSize: s?.size }
    if (!s && mayBeAbsent(descriptor)) {
      foreign.push(node)
      return
    }
    nodes.push(node)
    if (!s) {
      if (options.missing !== "report") throw new BlobNotFoundError({ digest, chain: parents })
      missing.push(node)
      return
    }
    if (s.size !== descriptor.size) sizeMismatches.push(node)
    if (!hasChildren(descriptor.mediaType)) return
    let children: Descriptor[]
    try {
      const bytes = await source.read(digest, MAX_DOCUMENT_BYTES)
      children = await childrenOf(descriptor, bytes)
    } catch (e) {
      if (e instanceof BlobNotFoundError) throw new BlobNotFoundError({ digest, chain: parents })
      throw new GraphDocumentError({ chain, reason: (e as Error).message })
    }
    for (const child of children) await visit(child, chain)
  }

  for (const root of roots) await visit(root, [])
  return { nodes, missing, sizeMismatches, foreign }
}
