import type { Engine } from "@cairn/engine"
import type { Output } from "./output.js"
import type { ProgressBars } from "./progress.js"

export interface OptionSpec {
  readonly type: "string" | "boolean"
  readonly short?: string
  readonly multiple?: boolean
  readonly description: string
  /** placeholder shown in help, e.g. "FILE" */
  readonly value?: string
}

export interface Context {
  readonly out: Output
  readonly progress: ProgressBars
  /** the engine over --root, opened on first use (commands such as --help never open it) */
  engine(): Promise<Engine>
  readonly root: string | undefined
  readonly debug: boolean
}

export interface Command {
  readonly name: string
  readonly summary: string
  /** e.g. "IMAGE DIR" */
  readonly usage: string
  readonly description?: string
  readonly examples: readonly string[]
  readonly options?: Readonly<Record<string, OptionSpec>>
  readonly args: { readonly min: number; readonly max: number }
  run(ctx: Context, args: readonly string[], opts: Readonly<Record<string, string | boolean | string[] | undefined>>): Promise<void>
}

export const command = (c: Command): Command => c

/** `--all-platforms` (ctr's flag): a multi-platform image kept whole, its name on the index; this host's layers unpacked */
export const allPlatformsOption: OptionSpec = {
  type: "boolean",
  description: "keep every platform of a multi-platform image: NAME points at its index, push/export carry all; unpacks this host's"
}
