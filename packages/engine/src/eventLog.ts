// The root's event log, as podman's file events backend keeps one: every lifecycle event an
// engine over the root emits is appended as one JSON line to ROOT/events.log, so `cairn events`
// in another process sees what every process did. One write(2) per line with O_APPEND keeps the
// lines of concurrent writers whole; past MAX_BYTES the log moves to events.log.1 (one kept).
import { appendFileSync, renameSync, statSync } from "node:fs"
import { join } from "node:path"
import type { EngineEvent } from "./events.js"

export const EVENT_LOG = "events.log"
const MAX_BYTES = 4 << 20

/** One line of the log: the event and when it happened (RFC 3339, UTC). */
export interface LoggedEvent extends EngineEvent {
  readonly time: string
}

/** A listener that appends each event to the root's log; a failed write (read-only root) only loses the line. */
export function eventLogWriter(root: string, now: () => Date = () => new Date()): (e: EngineEvent) => void {
  const path = join(root, EVENT_LOG)
  return (e) => {
    try {
      if ((statSync(path, { throwIfNoEntry: false })?.size ?? 0) > MAX_BYTES) renameSync(path, `${path}.1`)
    } catch {}
    try {
      appendFileSync(path, `${JSON.stringify({ time: now().toISOString(), ...e })}\n`, { mode: 0o644 })
    } catch {}
  }
}
