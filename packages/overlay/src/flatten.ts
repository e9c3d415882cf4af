import type { Writable } from "node:stream"
import * as Effect from "effect/Effect"
import { decompress } from "./compression.js"
import { LayerSourceError } from "./errors.js"
import {
  type LayerOutputOptions,
  type LayerResult,
  type LayerWriteFailure,
  type MtimeOptions,
  normalizeMtime,
  writeLayer
} from "./diff-output.js"
import type { ViewBuildError } from "./view.js"
import type { TarHeader } from "./tar/header.js"
import { readTar } from "./tar/reader.js"
import { asLayerError, type LayerSource, MergedView, type ViewEntry } from "./view.js"

export interface FlattenOptions extends LayerOutputOptions, MtimeOptions {}

const DROPPED_PAX = new Set(["atime", "ctime"]) // access/change times make the output depend on when layers were built

function headerFor(e: ViewEntry, options: FlattenOptions): TarHeader {
  const pax = new Map([...e.header.pax].filter(([k]) => !DROPPED_PAX.has(k)))
  return { ...e.header, path: e.path, type: e.type, mtime: normalizeMtime(e.header.mtime, options), pax }
}

/**
 * Squash a layer stack into one layer holding the merged tree (what `docker export` or
 * `crane flatten` give), streaming: the stack is indexed from headers, then directories, links
 * and special files are written in tree order, then each layer is read once more and the file
 * bodies that survive are copied through, then paths sharing an inode follow as hardlinks.
 */
export async function flatten(
  layers: readonly LayerSource[],
  out: Writable | string,
  options: FlattenOptions = {}
): Promise<LayerResult> {
  const view = await MergedView.build(layers)
  const files = new Map<string, ViewEntry[]>() // content ref -> every path showing those bytes
  const nonFiles: ViewEntry[] = []
  for (const e of view.walk()) {
    if (e.content === undefined) nonFiles.push(e)
    else {
      const k = `${e.content.layer}:${e.content.ordinal}`
      const group = files.get(k)
      if (group) group.push(e)
      else files.set(k, [e])
    }
  }
  return writeLayer(
    out,
    async (w) => {
      for (const e of nonFiles) await w.add(headerFor(e, options))
      const links: TarHeader[] = []
      for (let layer = 0; layer < layers.length; layer++) {
        const wanted = new Map<number, ViewEntry[]>()
        for (const group of files.values()) {
          const first = group[0]!
          if (first.content?.layer === layer) wanted.set(first.content.ordinal, group)
        }
        if (wanted.size === 0) continue
        try {
          const { data } = await decompress(await layers[layer]!())
          let ordinal = 0
          for await (const entry of readTar(data)) {
            const group = wanted.get(ordinal++)
            if (group === undefined) {
              await entry.skip()
              continue
            }
            const [first, ...rest] = group as [ViewEntry, ...ViewEntry[]]
            const header = headerFor(first, options)
            await w.add(header, header.size > 0 ? entry.body : undefined)
            if (header.size === 0) await entry.skip()
            for (const r of rest) links.push({ ...headerFor(r, options), type: "hardlink", size: 0, linkpath: first.path })
            wanted.delete(ordinal - 1)
            if (wanted.size === 0) break
          }
        } catch (e) {
          throw asLayerError(layer, e)
        }
        if (wanted.size > 0) {
          throw new LayerSourceError({ layer, reason: "the layer has fewer entries than when it was indexed (did its bytes change?)" })
        }
      }
      for (const l of links) await w.add(l)
    },
    options
  )
}

/** Effect form of flatten: the typed failures in the error channel. */
export const flattenEffect = (
  layers: readonly LayerSource[],
  out: Writable | string,
  options: FlattenOptions = {}
): Effect.Effect<LayerResult, ViewBuildError | LayerWriteFailure> =>
  Effect.tryPromise({ try: () => flatten(layers, out, options), catch: (e) => e as ViewBuildError | LayerWriteFailure })
