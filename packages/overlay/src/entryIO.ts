/** The small I/O steps of writing an entry: whole writes, the umask, times (pax atime), kept across entries. */
import { constants, readFileSync, utimesSync, writeSync } from "node:fs"
import type { TarHeader } from "./tar/header.js"

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code

/** A directory's times, set after the last entry that changes it. */
export interface Times {
  abs: Buffer
  atime: number
  mtime: number
}

export function writeAll(fd: number, chunk: Buffer) {
  let off = 0
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off)
}

/** The process umask from /proc/self/status ("Umask:\t0022"), undefined where that is not readable. */
export function readUmask(): number | undefined {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync("/proc/self/status", "latin1"))
    return m ? Number.parseInt(m[1]!, 8) : undefined
  } catch {
    return undefined
  }
}

export function setTimes(t: Times) {
  try {
    utimesSync(t.abs, t.atime, t.mtime)
  } catch (e) {
    if (errno(e) !== "ENOENT") throw e // removed later in the same layer
  }
}

export function paxTime(h: TarHeader, k: string): number | undefined {
  const v = h.pax.get(k)
  if (v === undefined) return undefined
  const n = Number(v.toString("latin1"))
  return Number.isFinite(n) ? n : undefined
}

/** create-only, never through a symlink */
export const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
/** a path's components as one map key */
export const key = (components: readonly Buffer[]) => components.map((c) => c.toString("latin1")).join("/")

/**
 * key() of `clean`, the cleaned components of `path`: one string made from `path` itself when it
 * is already clean. Every byte cleaning drops (a leading or doubled "/", ".", "..", what ".."
 * removes) makes `path` longer than its components and their separators, so equal lengths mean
 * that `path` is exactly the components joined by "/".
 */
export function pathKey(path: Buffer, clean: readonly Buffer[]): string {
  let n = clean.length - 1
  for (const c of clean) n += c.length
  return clean.length > 0 && n === path.length ? path.toString("latin1") : key(clean)
}
