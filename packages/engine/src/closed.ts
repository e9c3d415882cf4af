import * as Data from "effect/Data"

/** An operation on an engine after its close(): open a new one (Engine.open) to go on. */
export class EngineClosedError extends Data.TaggedError("EngineClosedError")<{
  readonly root: string
  readonly operation: string
}> {
  override get message() {
    return `cannot ${this.operation}: the engine over ${this.root} was closed; open it again (Engine.open) to go on`
  }
}
