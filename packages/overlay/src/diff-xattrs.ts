import { spawn } from "node:child_process"
import { XattrReadError } from "./errors.js"

/** Raw xattrs of every entry that has any, keyed by the path relative to the root (latin1 of its bytes). */
export type TreeXattrs = Map<string, Map<string, Buffer>>

/** getfattr escapes control bytes and "\" as \ooo in the names it prints (attr's quote()). */
function unquote(line: Buffer): Buffer {
  if (!line.includes(0x5c)) return line
  const out: number[] = []
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === 0x5c && i + 3 < line.length && /^[0-7]{3}$/u.test(line.toString("latin1", i + 1, i + 4))) {
      out.push(Number.parseInt(line.toString("latin1", i + 1, i + 4), 8))
      i += 3
    } else out.push(c)
  }
  return Buffer.from(out)
}

/** Parse `getfattr -d -m - -e hex` output ("# file: <name>" then "<attr>=0x<hex>" lines). */
export function parseGetfattr(stdout: Buffer): TreeXattrs {
  const result: TreeXattrs = new Map()
  let current: Map<string, Buffer> | undefined
  let start = 0
  while (start < stdout.length) {
    let end = stdout.indexOf(0x0a, start)
    if (end < 0) end = stdout.length
    const line = stdout.subarray(start, end)
    start = end + 1
    if (line.length === 0) {
      current = undefined
      continue
    }
    if (line.subarray(0, 8).toString("latin1") === "# file: ") {
      let name = unquote(line.subarray(8))
      if (name.toString("latin1") === ".") name = Buffer.alloc(0)
      else if (name.subarray(0, 2).toString("latin1") === "./") name = name.subarray(2)
      current = new Map()
      result.set(name.toString("latin1"), current)
      continue
    }
    if (current === undefined) continue
    const eq = line.indexOf(0x3d)
    if (eq < 0) continue
    const attr = line.toString("utf8", 0, eq)
    const value = line.toString("latin1", eq + 1)
    // values print as 0x<hex> with -e hex; an empty value prints as 0x or nothing
    current.set(attr, value.startsWith("0x") ? Buffer.from(value.slice(2), "hex") : Buffer.alloc(0))
  }
  return result
}

/**
 * Read every xattr (all namespaces, incl. trusted.* and security.* as root) of a whole tree in
 * one `getfattr -R -P -h` process: Node has no xattr API and native addons are off the table,
 * so one child process per tree keeps the cost at a single spawn (attr package, Debian `attr`).
 */
export function readTreeXattrs(root: string): Promise<TreeXattrs> {
  return new Promise((resolve, reject) => {
    const child = spawn("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "."], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on("data", (c: Buffer) => out.push(c))
    child.stderr.on("data", (c: Buffer) => err.push(c))
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        new XattrReadError({
          root,
          reason:
            e.code === "ENOENT"
              ? "the getfattr command is missing: install the attr package (apt-get install attr)"
              : e.message
        })
      )
    )
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new XattrReadError({ root, reason: `getfattr exited ${code}: ${Buffer.concat(err).toString().trim()}` }))
        return
      }
      resolve(parseGetfattr(Buffer.concat(out)))
    })
  })
}
