import { execFileSync } from "node:child_process"
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect } from "vitest"
import { parseMountInfo } from "../src/index.js"

export const isRoot = process.getuid?.() === 0

/** Mounts under our temp dirs only: other suites mount concurrently in the same namespace. */
const PREFIX = "cairn-mount-test-"
export const ourMounts = (): Array<string> =>
  parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"))
    .map((m) => `${m.id} ${m.mountPoint}`)
    .filter((l) => l.includes(`/${PREFIX}`))

/** Asserts that `body` leaves /proc/self/mountinfo (our part of it) exactly as it found it. */
export const noLeak = async <A>(body: () => Promise<A>): Promise<A> => {
  const before = ourMounts()
  try {
    return await body()
  } finally {
    expect(ourMounts(), "mounts leaked (compare /proc/self/mountinfo)").toEqual(before)
  }
}

export const tempRoot = (): { dir: string; cleanup: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), PREFIX))
  return {
    dir,
    cleanup: () => {
      // never rm -rf through a mount that a failed test left: unmount first
      for (const line of ourMounts().reverse()) {
        const mp = line.split(" ")[1] ?? ""
        if (mp.startsWith(dir)) execFileSync("umount", ["-l", mp])
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Writes a tree: { "a/b.txt": "text", "d/": null (dir) }. */
export const writeTree = (root: string, tree: Record<string, string | null>) => {
  mkdirSync(root, { recursive: true })
  for (const [rel, content] of Object.entries(tree)) {
    const p = join(root, rel)
    if (content === null) mkdirSync(p, { recursive: true })
    else {
      mkdirSync(dirname(p), { recursive: true })
      writeFileSync(p, content)
    }
  }
}

export const dirs = (root: string, ...names: Array<string>) =>
  names.map((n) => {
    const p = join(root, n)
    mkdirSync(p, { recursive: true })
    return p
  })

/** A 0/0 character device, or the xattr whiteout form (overlayfs.rst). */
export const isWhiteout = (path: string): boolean => {
  if (!existsSync(path) && !lstatSafe(path)) return false
  const st = lstatSync(path)
  if (st.isCharacterDevice() && st.rdev === 0) return true
  return st.isFile() && st.size === 0 && xattr(path, "overlay.whiteout") !== undefined
}

const lstatSafe = (path: string) => {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/** Reads trusted.<name> or user.<name> with getfattr (Debian package attr). */
export const xattr = (path: string, name: string): string | undefined => {
  for (const ns of ["trusted", "user"]) {
    try {
      return execFileSync("getfattr", ["-h", "--only-values", "-n", `${ns}.${name}`, "--", path], { stdio: ["ignore", "pipe", "ignore"] }).toString()
    } catch {}
  }
  return undefined
}

export const haveTool = (name: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** A temp root with empty lower, upper, work and merged dirs. */
export const containerDirs = () => {
  const { dir: root, cleanup } = tempRoot()
  const [lower, upper, work, target] = dirs(root, "lower", "upper", "work", "merged") as [string, string, string, string]
  return { root, cleanup, lower, upper, work, target }
}

/** The package directory (tests that run a child Node load its dist/). */
export const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..")

/**
 * Builds dist/ for tests whose child process cannot load TypeScript. Test files run in
 * parallel: the lock keeps two `tsc -b` from writing the same files at once.
 */
export const buildDist = () =>
  execFileSync("flock", ["/tmp/cairn-mount-test-build.lock", process.execPath, join(packageDir, "../../node_modules/typescript/bin/tsc"), "-b"], {
    cwd: packageDir,
    stdio: "pipe",
    timeout: 120_000
  })

/** Runs body with the kernel driver on mount(2) via the helper (default) or forced onto mount(8). */
export const viaMountCall = async <A>(via: "mount(2) via helper" | "mount(8)", body: () => Promise<A>): Promise<A> => {
  const saved = process.env.CAIRN_MOUNT_HELPER
  if (via === "mount(8)") process.env.CAIRN_MOUNT_HELPER = "0"
  else delete process.env.CAIRN_MOUNT_HELPER
  try {
    return await body()
  } finally {
    if (saved === undefined) delete process.env.CAIRN_MOUNT_HELPER
    else process.env.CAIRN_MOUNT_HELPER = saved
  }
}
