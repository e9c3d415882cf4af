// What the mount package remembers between calls: the mount(2) helper process, whether it
// proved broken, and what detection, the stack-depth probe and `mount --version` found. One
// MountState per owner: the package's own functions share `defaultMountState` (the standalone
// API), an engine makes its own and provides it as MountRuntime, and `close()` releases it.
import * as Context from "effect/Context"
import type { DetectReport } from "./detect.js"
import type { Helper } from "./helper.js"
import type { MountTool, StackDepth } from "./kernel.js"

export class MountState {
  /** the running helper (helper.ts), spawned on first use */
  helper: Helper | undefined = undefined
  /** why the helper could not run: mount(8) per call from then on */
  broken: string | undefined = undefined
  detected: DetectReport | undefined = undefined
  stackDepth: StackDepth | undefined = undefined
  mountTool: MountTool | undefined = undefined
  private closed = false

  get isClosed(): boolean {
    return this.closed
  }

  /** Stops the helper and forgets every cached finding; later use starts afresh (the default state) or is refused by the owner. */
  close(): void {
    this.closed = true
    this.helper?.stop()
    this.helper = undefined
    this.broken = undefined
    this.detected = undefined
    this.stackDepth = undefined
    this.mountTool = undefined
  }
}

/** The state of the package's standalone functions (mount(), detect(), ...) in this process. */
export const defaultMountState = new MountState()

/** The MountState an Effect runs with: `Effect.provideService(MountRuntime, state)`; default `defaultMountState`. */
export const MountRuntime = Context.Reference<MountState>("@cairn/mount/MountRuntime", { defaultValue: () => defaultMountState })
