// A build stage's state as its instructions change it, shared by the planner, the config steps and the executor.
import { chainIds, type Digest } from "@cairn/digest"
import type { ImageConfig } from "@cairn/oci-spec/lazy"
import type { LayerDescriptor } from "../store.js"
import type { HistoryEntry } from "./cache.js"

export type Config = NonNullable<ImageConfig["config"]>
export interface State {
  config: ImageConfig
  layers: Array<LayerDescriptor>
  diffIds: Array<Digest>
  history: Array<HistoryEntry>
  /** the stage's ARGs: name -> value (undefined: declared without one) */
  args: Map<string, string | undefined>
  shell: Array<string>
  cmdSet: boolean
}

export const DEFAULT_SHELL = ["/bin/sh", "-c"]
export const arch = () => ({ x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x" })[process.arch as string] ?? process.arch

export const cfgOf = (s: State): Config => ({ ...(s.config.config ?? {}) })
export const top = (s: State): string => (s.diffIds.length === 0 ? "" : chainIds(s.diffIds).at(-1)!)
