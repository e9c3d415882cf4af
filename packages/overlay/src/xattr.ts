import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * Node has no xattr API, so xattrs are set by `setfattr --restore` (Debian package `attr`):
 * one process per layer for all its entries that carry xattrs, so entries without xattrs pay nothing.
 */
export interface XattrSet {
  path: Buffer
  xattrs: Map<string, Buffer>
}

/** getfattr/setfattr's escaping: octal for anything unprintable, blank or a backslash. */
function escapeBytes(b: Uint8Array): string {
  let s = ""
  for (const c of b) s += c > 0x20 && c < 0x7f && c !== 0x5c && c !== 0x3d ? String.fromCharCode(c) : `\\${c.toString(8).padStart(3, "0")}`
  return s
}

/** The failures setfattr reported, one line each ([] when everything was set). */
export function setXattrs(items: readonly XattrSet[]): string[] {
  if (items.length === 0) return []
  const lines: string[] = []
  for (const it of items) {
    lines.push(`# file: ${escapeBytes(it.path)}`)
    for (const [name, value] of it.xattrs) {
      // An empty value is written as "" (0x with no digits is rejected).
      lines.push(`${escapeBytes(Buffer.from(name))}=${value.length === 0 ? '""' : `0x${value.toString("hex")}`}`)
    }
    lines.push("")
  }
  const dir = mkdtempSync(join(tmpdir(), "cairn-xattr-"))
  try {
    const dump = join(dir, "dump")
    writeFileSync(dump, `${lines.join("\n")}\n`, "latin1")
    const r = spawnSync("setfattr", ["-h", `--restore=${dump}`], { encoding: "latin1" })
    if (r.error) return [`setfattr could not run (${r.error.message}); install the Debian package "attr"`]
    if (r.status === 0) return []
    const errs = r.stderr.split("\n").filter((l) => l.trim() !== "")
    return errs.length > 0 ? errs : [`setfattr exited with ${r.status}`]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
