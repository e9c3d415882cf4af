// Where the bench writes what it times: a fresh ext4 with its journal (mkfs.ext4 defaults, what
// a distribution installs), loop-mounted for this run, instead of os.tmpdir()'s filesystem.
//
// Why: this machine's root is an ext4 without a journal. ext4's inode allocator then skips every
// inode freed in the last 60 s (360 s while its inode-table block is still dirty), reading each
// one's inode to learn so (fs/ext4/ialloc.c find_inode_bit -> recently_deleted; the check is made
// only when there is no journal). A run that creates 50,000 files right after the previous run's
// 50,000 were deleted scans past them on every create: GNU tar -xf of the small layer took 11-13 s
// of system time there (perf: 60 % in recently_deleted and the buffer lookups under it), 0.9 s on
// a journaled ext4 and 0.6 s on tmpfs, and which contender ran after which deletion decided the
// figure. CAIRN_BENCH_FS=tmpdir keeps the old place.
import { execFile, execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statfsSync } from "node:fs"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { has } from "./measure.mjs"

const EXT4_MAGIC = 0xef53

/** What the filesystem at `dir` is, for the results: "ext4 (no journal)", "ext4 (journal)", "tmpfs", ... */
export function describeFs(/** @type {string} */ dir) {
  const type = statfsSync(dir).type
  if (type === 0x01021994) return "tmpfs"
  if (type === 0x58465342) return "xfs"
  if (type === 0x9123683e) return "btrfs"
  if (type !== EXT4_MAGIC) return `filesystem type 0x${type.toString(16)}`
  // the mount's device in /proc/self/mountinfo, then its journal as ext4 reports it in sysfs
  try {
    const line = execFileSync("findmnt", ["-n", "-o", "SOURCE", "--target", dir], { encoding: "utf8" }).trim()
    const dev = line.replace(/^\/dev\//, "")
    const task = join("/sys/fs/ext4", dev, "journal_task")
    if (!existsSync(task)) return "ext4"
    return readFileSync(task, "utf8").trim() === "<none>" ? "ext4 (no journal)" : "ext4 (journal)"
  } catch {
    return "ext4"
  }
}

/** Unmounts and removes what a bench killed with SIGKILL left: its pid is in the dir's name. */
async function sweepStale(/** @type {(line: string) => void} */ log) {
  for (const name of readdirSync("/var/tmp")) {
    const m = /^cairn-bench-fs-(\d+)-/.exec(name)
    if (m === null || alive(Number(m[1]))) continue
    const base = join("/var/tmp", name)
    try {
      execFileSync("umount", ["-l", join(base, "mnt")], { stdio: "pipe" })
    } catch {}
    await rm(base, { recursive: true, force: true })
    log(`removed the scratch filesystem of bench process ${m[1]}, which is gone: ${base}`)
  }
}

const alive = (/** @type {number} */ pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === "EPERM"
  }
}

/**
 * The run's scratch dir, on a fresh loop-mounted journaled ext4 when root can make one (else in
 * os.tmpdir(), with the reason). `cleanup` unmounts and removes the image; `trim` returns the
 * blocks freed inside the image to the disk under it (fstrim; untimed, between runs).
 * @param {{ log: (line: string) => void, size?: string }} options
 * @returns {Promise<{ dir: string, fs: string, cleanup: () => Promise<void>, trim: () => Promise<void> }>}
 */
export async function scratchFilesystem({ log, size = "64G" }) {
  const plain = async (/** @type {string} */ why) => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-bench-"))
    const fs = `${describeFs(dir)}, os.tmpdir() (${why})`
    return { dir, fs, cleanup: () => rm(dir, { recursive: true, force: true }), trim: async () => {} }
  }
  if (process.env.CAIRN_BENCH_FS === "tmpdir") return plain("CAIRN_BENCH_FS=tmpdir")
  if (process.getuid?.() !== 0) return plain("not root: no loop mount")
  for (const bin of ["mkfs.ext4", "losetup", "mount"]) if (!has(bin)) return plain(`${bin} is missing`)
  await sweepStale(log)
  // the image is sparse, and trim() (after each run's output is deleted) gives the blocks freed
  // inside it back to /var/tmp: without it the image keeps every block any run ever wrote
  // (the pull rows alone grew it to 28 GB and filled a 100 GB disk before the run ended)
  const base = await mkdtemp(join("/var/tmp", `cairn-bench-fs-${process.pid}-`))
  const image = join(base, "ext4.img")
  const dir = join(base, "mnt")
  try {
    await mkdir(dir)
    execFileSync("truncate", ["-s", size, image])
    execFileSync("mkfs.ext4", ["-q", "-F", "-L", "cairn-bench", image], { stdio: "pipe" })
    execFileSync("mount", ["-o", "loop", image, dir], { stdio: "pipe" })
  } catch (e) {
    await rm(base, { recursive: true, force: true })
    return plain(`no loop-mounted ext4: ${String(/** @type {Error} */ (e).message).split("\n")[0]}`)
  }
  log(`scratch filesystem: a fresh ext4 with its journal, ${size} sparse, loop-mounted at ${dir}`)
  return {
    dir,
    fs: `${describeFs(dir)}, made by mkfs.ext4 for this run and loop-mounted (the machine's own /var/tmp is ${describeFs(base)})`,
    trim: () =>
      new Promise((resolve) => {
        // a failure only leaves the image bigger: the run goes on
        execFile("fstrim", [dir], () => resolve(undefined))
      }),
    cleanup: async () => {
      try {
        execFileSync("umount", [dir], { stdio: "pipe" })
      } catch {
        // busy (a leaked mount below it): lazily, so the image can still go
        execFileSync("umount", ["-l", dir], { stdio: "pipe" })
      }
      await rm(base, { recursive: true, force: true })
    }
  }
}
