import { randomBytes } from "node:crypto"
import { constants } from "node:fs"
import { link, open, rename, unlink } from "node:fs/promises"
import { basename, dirname, join } from "node:path"

/** fsync a directory so a rename/link/unlink inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** A temp name beside `path`, dot-prefixed and unique, marked with our pid so stale ones can be told apart. */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
}

/**
 * Replace `path` with `data` so a reader sees either the old or the new content, never a mix:
 * write a temp file, fsync it, rename over, fsync the directory.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const tmp = tempNameFor(path)
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (e) {
    await fh.close()
    await unlink(tmp).catch(() => {})
    throw e
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
  await fsyncDir(dirname(path))
}

/** Temp files written by writeFileAtomic / ingest carry the writer's pid: `.name.tmp-<pid>-<rand>`. */
export function tempFilePid(name: string): number | undefined {
  const m = /\.tmp-(\d+)-[0-9a-f]+$/.exec(name)
  return m ? Number(m[1]) : undefined
}

/** Create `path` with `data` only if it does not exist yet (temp + fsync + link); false when it existed. */
export async function createFileExclusive(path: string, data: Uint8Array | string, mode = 0o644): Promise<boolean> {
  const tmp = tempNameFor(path)
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await link(tmp, path)
    await fsyncDir(dirname(path))
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false
    throw e
  } finally {
    await unlink(tmp).catch(() => {})
  }
}
