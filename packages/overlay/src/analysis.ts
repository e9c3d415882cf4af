import { type LayerSource, MergedView } from "./view.js"

/** What one layer does to the tree below it, in the spirit of the `dive` tool. */
export interface LayerAnalysis {
  layer: number
  /** entries in the layer's tar that are not whiteouts */
  entries: number
  /** bytes of file bodies the layer carries */
  bytes: number
  filesAdded: number
  bytesAdded: number
  filesModified: number
  bytesModified: number
  /** files (not directories) removed from lower layers by whiteouts or opaque markers */
  filesDeleted: number
  bytesDeleted: number
  /** bytes of this layer's file bodies absent from the final tree (shadowed or deleted later) */
  bytesWasted: number
}

export interface StackAnalysis {
  layers: LayerAnalysis[]
  /** bytes of file bodies across all layers */
  totalBytes: number
  /** bytes of file bodies in the merged tree (each hardlinked body once) */
  finalBytes: number
  wastedBytes: number
  /** finalBytes / totalBytes (1 for a stack without file bytes) */
  efficiency: number
}

/** Analyse a layer stack from tar headers alone (bodies are never read). */
export async function analyzeLayers(layers: readonly LayerSource[]): Promise<StackAnalysis> {
  const stats: LayerAnalysis[] = layers.map((_, layer) => ({
    layer,
    entries: 0,
    bytes: 0,
    filesAdded: 0,
    bytesAdded: 0,
    filesModified: 0,
    bytesModified: 0,
    filesDeleted: 0,
    bytesDeleted: 0,
    bytesWasted: 0
  }))
  const view = await MergedView.build(layers, {
    provide(layer, entry, replaced) {
      const s = stats[layer]!
      if (entry.implicit) return
      s.entries++
      // a hardlink shares bytes another entry carries; only the entry with the body counts them
      const own = entry.content !== undefined && entry.content.layer === layer && entry.content.ordinal === entry.ordinal
      const size = own ? entry.content!.size : 0
      s.bytes += size
      if (entry.type === "directory") return
      if (replaced === undefined) {
        s.filesAdded++
        s.bytesAdded += size
      } else {
        s.filesModified++
        s.bytesModified += size
      }
    },
    remove(layer, entry, cause) {
      if (cause === "replaced" || entry.type === "directory") return
      const s = stats[layer]!
      s.filesDeleted++
      s.bytesDeleted += entry.content?.size ?? 0
    }
  })
  const survivors = new Map<string, { layer: number; size: number }>()
  for (const e of view.walk()) {
    if (e.content) survivors.set(`${e.content.layer}:${e.content.ordinal}`, e.content)
  }
  const kept = stats.map(() => 0)
  for (const c of survivors.values()) kept[c.layer]! += c.size
  let totalBytes = 0
  let finalBytes = 0
  for (const s of stats) {
    s.bytesWasted = s.bytes - kept[s.layer]!
    totalBytes += s.bytes
    finalBytes += kept[s.layer]!
  }
  return {
    layers: stats,
    totalBytes,
    finalBytes,
    wastedBytes: totalBytes - finalBytes,
    efficiency: totalBytes === 0 ? 1 : finalBytes / totalBytes
  }
}
