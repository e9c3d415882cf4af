import type { Digest, HasherBackend } from "@cairn/digest"
import type { Compression, ZstdDecoder } from "./compression.js"
import type { OverlayXattrNamespace } from "./whiteout.js"

/** Where a layer goes: merged with the layers below ("flat") or into its own directory for overlayfs ("overlay"). */
export type ApplyForm = "flat" | "overlay"

export interface OverlayFormOptions {
  /** xattr namespace for opaque/whiteout markers: "trusted" (root) or "user" (rootless mounts with `userxattr`) */
  xattrNamespace?: OverlayXattrNamespace
  /** whiteouts as 0/0 character devices (default) or as empty files with the `overlay.whiteout` xattr (Linux >= 6.7) */
  whiteout?: "device" | "xattr"
  /** extracted lower layers, top first: where hardlinks to files of lower layers are copied from */
  lowers?: readonly string[]
  /**
   * the lower layers are not extracted yet (a pull extracting every layer as it downloads): a
   * parent directory the layer does not list is made 0755 and named in the result's
   * `implicitDirs`, for `settleImplicitDirs` to give it the lower directory's mode, owner and
   * times once they exist; a hardlink to a file the layer does not hold fails with
   * LowersNeededError (only a lower layer can have it: extract the layer again with `lowers`)
   */
  lowersLater?: boolean
}

export interface ApplyOptions {
  /** "flat" (default): whiteouts delete; "overlay": whiteouts become overlayfs markers */
  form?: ApplyForm
  overlay?: OverlayFormOptions
  /** fail with DiffIdMismatchError unless the tar hashes to this */
  expectedDiffId?: Digest
  /** fail with LayerDigestMismatchError unless the compressed bytes hash to this */
  expectedDigest?: Digest
  /** also compute the digest of the compressed bytes (implied by expectedDigest) */
  computeDigest?: boolean
  /** hash backend (default: @cairn/digest's WASM core) */
  hasher?: HasherBackend
  /**
   * hash on worker threads, one per digest, beside decompression and writes (DESIGN.md "The hot
   * path"; @cairn/digest's OffThreadHasher). Default: on for a layer file of at least 16 MiB, where
   * it pays for the workers' start; off for streams and small files.
   */
  hashOffThread?: boolean
  /** don't chown; keep owners in the `user.rootlesscontainers` xattr as umoci does; skip device nodes. Default: not running as root */
  rootless?: boolean
  zstd?: ZstdDecoder
  /**
   * threads that create small regular files beside the applying thread (the kernel's per-file work
   * then uses more than one core). Default: CAIRN_WRITER_THREADS, else the cores, at most 2;
   * 0 writes everything on the applying thread. Started only for layers of many files.
   */
  writerThreads?: number
  /** progress: the source bytes read so far (the compressed blob), at most once per MiB and once at the end */
  onBytes?: (bytes: number) => void
}

export interface ApplyWarning {
  path: string
  reason: string
}

export interface ApplyResult {
  diffId: Digest
  /** digest of the bytes as given (compressed), when asked for */
  digest?: Digest
  compression: Compression
  /** bytes read from the source (the blob size) */
  size: number
  /** bytes of the uncompressed tar */
  tarSize: number
  entries: number
  warnings: ApplyWarning[]
  /**
   * with `overlay.lowersLater`: the directories made as parents without an entry of their own
   * (path components below the target, parents first), for `settleImplicitDirs`
   */
  implicitDirs?: Buffer[][]
}
