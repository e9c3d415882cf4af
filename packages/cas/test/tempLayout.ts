import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach } from "vitest"

const dirs: string[] = []

/** A fresh temp directory, removed after the test. */
export function tempDir(prefix = "cairn-cas-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** Chunks of `data` yielded and then a failure, like a download cut off. */
export async function* cutOff(data: Uint8Array, after: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < after; o += 1000) yield data.subarray(o, Math.min(o + 1000, after))
  throw new Error("connection reset")
}
