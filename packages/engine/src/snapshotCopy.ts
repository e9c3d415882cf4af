// A flat tree copied from an image's snapshots instead of extracted again from its blobs (no work
// done twice): the snapshots, already verified against both digests when they were made, are
// stacked read-only by the kernel's overlayfs, which performs whiteouts and opaque dirs and hides
// its own trusted.overlay.* markers, and the merged view is copied out by one `cp -a` (owners,
// modes, times, xattrs, hardlinks, devices; copy_file_range, reflinks where the filesystem has
// them). Where that cannot run (not root, no overlayfs, a snapshot missing) the caller extracts
// from the blobs instead.
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdir, rmdir } from "node:fs/promises"
import { join, relative, resolve } from "node:path"
import { type Digest, digestHex } from "@cairn/digest"
import type { EngineContext } from "./context.js"
import { EngineIOError } from "./errors.js"
import { readSnapshotMeta } from "./snapshots.js"

/** What mount(2) takes in one page, with room to spare; a longer lowerdir list extracts instead. */
const MAX_OPTIONS = 4000
const MOUNT_FAILED = 90

// The mount lives in a mount namespace of its own that ends with `cp`: whatever happens to this
// process (SIGKILL included), no mount is left over the snapshots.
// "mounted" on stdout tells a failed copy (an error) from a namespace or mount that could not be
// made (unshare refused, no overlayfs: nothing was written, extract instead).
const SCRIPT = `mount -t overlay overlay -o "$1" "$2" || exit ${MOUNT_FAILED}; echo mounted; exec cp -a --reflink=auto -- "$2/." "$3/"`

/**
 * Copies the merged tree of the snapshots `chain` (bottom first) into the empty dir `rootfs`.
 * Resolves false, having written nothing, when it cannot (the caller then extracts the blobs).
 * The caller holds a snapshot lease on the chain so that prune leaves it alone meanwhile.
 */
export async function flatFromSnapshots(ctx: EngineContext, chain: ReadonlyArray<Digest>, rootfs: string): Promise<boolean> {
  // the kernel mount needs root; snapshots made without it carry user.* markers anyway
  if (process.getuid?.() !== 0 || chain.length === 0) return false
  for (const c of chain) if ((await readSnapshotMeta(ctx.layout, c)) === undefined) return false
  // absolute: the child runs in the snapshots dir, and a root may be given relative (--root r)
  const dir = resolve(ctx.layout.snapshots)
  const base = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}-view`)
  const view = join(base, "merged")
  // overlayfs without an upper needs two lowers at least: an empty one goes at the bottom
  const empty = join(base, "empty")
  // lowerdir paths relative to the snapshots dir (the child's cwd): short, and free of the root's own spelling
  const lowers = [...[...chain].reverse().map((c) => `${digestHex(c)}/fs`), relative(dir, empty)]
  const options = `lowerdir=${lowers.join(":")}`
  if (options.length > MAX_OPTIONS || /[,:\\\s]/.test(relative(dir, empty))) return false
  await mkdir(view, { recursive: true })
  await mkdir(empty)
  try {
    const code = await new Promise<number>((res, rej) => {
      execFile(
        "unshare",
        ["--mount", "--propagation", "private", "--", "sh", "-c", SCRIPT, "sh", options, view, resolve(rootfs)],
        { cwd: dir, maxBuffer: 1 << 20 },
        (err, out, stderr) => {
          if (err === null) return res(0)
          if (!out.includes("mounted")) return res(MOUNT_FAILED) // no unshare, no namespace, no overlayfs here: extract instead
          rej(new EngineIOError({ operation: "copy the image's merged snapshots into", path: rootfs, cause: new Error(stderr.trim() || err.message) }))
        }
      )
    })
    return code === 0
  } finally {
    // rmdir, never a recursive rm: nothing below these dirs is touched
    await rmdir(view).catch(() => {})
    await rmdir(empty).catch(() => {})
    await rmdir(base).catch(() => {})
  }
}
