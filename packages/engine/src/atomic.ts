// Metadata files of the engine root go through @cairn/cas's writeFileAtomic (temp + fsync +
// rename + dir fsync), so a reader (or a crash) sees the old or the new document, never a torn one.
import { readFile } from "node:fs/promises"
import { writeFileAtomic } from "@cairn/cas"

export const writeJsonAtomic = (path: string, value: unknown): Promise<void> =>
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`)

/** The parsed JSON at path, or undefined when the file does not exist. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
  return JSON.parse(text) as T
}

/** True while a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The pid in a `.tmp-<pid>-<rand>` style name, if any. */
export function tempOwner(name: string): number | undefined {
  const m = /\.tmp-(\d+)-/.exec(name)
  return m?.[1] === undefined ? undefined : Number(m[1])
}
