// The part of @cairn/cas's Store the /v2 endpoints use (engine.store is a Store).
import type { Store } from "@cairn/cas"

export type RegistryStore = Pick<
  Store,
  "root" | "layout" | "stat" | "has" | "put" | "read" | "tag" | "untag" | "resolve" | "tags" | "index" | "addRoot" | "stage" | "createLease" | "releaseLease" | "gc"
>
