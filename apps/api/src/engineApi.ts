// What the service needs of @cairn/engine's Promise facade: those of its operations the routes
// call, taken from the Engine type itself (not restated), so a change there reaches the routes at
// compile time. A test may serve any object with these members (a store-only engine for /v2).
import type { Engine } from "@cairn/engine"

export type ServedEngine = Pick<
  Engine,
  | "root"
  | "store"
  | "on"
  | "importImage"
  | "exportImage"
  | "listImages"
  | "inspectImage"
  | "history"
  | "tag"
  | "removeImage"
  | "createContainer"
  | "listContainers"
  | "mountContainer"
  | "unmountContainer"
  | "diffContainer"
  | "commitContainer"
  | "removeContainer"
  | "df"
  | "prune"
  | "fsck"
  | "close"
> &
  Partial<Pick<Engine, "build">>
