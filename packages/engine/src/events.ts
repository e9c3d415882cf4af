// The event bus service: lifecycle events of an engine root, for watchers such as the API's
// /events stream. The live bus is an in-process fan-out; give the engine another (one bus
// shared by several engines, a recording one in a test) by providing EngineEvents.
import * as Context from "effect/Context"

/**
 * A lifecycle change of the root, for watchers such as the API's /events stream (ENGINE.md
 * "Lifecycle events"). `id` is the image's manifest digest or the container's id; `name` the
 * image name (name:tag) or container name concerned.
 */
export interface EngineEvent {
  readonly type:
    | "image.imported"
    | "image.tagged"
    | "image.removed"
    | "container.created"
    | "container.mounted"
    | "container.unmounted"
    | "container.committed"
    | "container.removed"
  readonly id: string
  readonly name?: string
}

export type EngineEventListener = (e: EngineEvent) => void

/** Synchronous fan-out; a listener that throws is skipped, never fails the operation that emitted. */
export class EventListeners {
  private readonly listeners = new Set<EngineEventListener>()
  on(listener: EngineEventListener): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }
  emit(type: EngineEvent["type"], id: string, name?: string): void {
    const e: EngineEvent = name === undefined || name === "" ? { type, id } : { type, id, name }
    for (const l of this.listeners) {
      try {
        l(e)
      } catch {}
    }
  }
}

/** What the engine publishes to and its watchers subscribe to. */
export interface EventBus {
  on(listener: EngineEventListener): () => void
  emit(type: EngineEvent["type"], id: string, name?: string): void
}

export class EngineEvents extends Context.Service<EngineEvents, EventBus>()("@cairn/engine/EngineEvents") {}
