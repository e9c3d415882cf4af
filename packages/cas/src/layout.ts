// OCI image layout (image-spec image-layout.md): `oci-layout`, `index.json`, `blobs/<alg>/<encoded>`.
// cairn keeps its own working state in extra directories beside them, which the spec allows
// ("the layout MAY contain other files"): ingest/ (partial writes), leases/, locks/, quarantine/.
import { mkdir, readdir, readFile, stat } from "node:fs/promises"
import { basename, join, resolve } from "node:path"
import { type Digest, digestAlgorithm, digestHex, parseDigest } from "@cairn/digest"
import { createFileExclusive, fsyncDir } from "./atomicFile.js"
import { IndexFileError, LayoutError } from "./errors.js"

export const OCI_LAYOUT_FILE = "oci-layout"
export const INDEX_FILE = "index.json"
export const IMAGE_LAYOUT_VERSION = "1.0.0"
export const INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"

/** Names cairn adds beside blobs/; anything else a tool wrote is left alone. */
const cairnDirs = ["ingest", "leases", "locks", "quarantine"] as const

/** The paths of one layout directory. */
export class Layout {
  readonly root: string
  readonly blobsDir: string
  readonly indexPath: string
  readonly ociLayoutPath: string
  readonly ingestDir: string
  readonly leasesDir: string
  readonly locksDir: string
  readonly quarantineDir: string

  constructor(root: string) {
    this.root = resolve(root)
    this.blobsDir = join(this.root, "blobs")
    this.indexPath = join(this.root, INDEX_FILE)
    this.ociLayoutPath = join(this.root, OCI_LAYOUT_FILE)
    this.ingestDir = join(this.root, "ingest")
    this.leasesDir = join(this.root, "leases")
    this.locksDir = join(this.root, "locks")
    this.quarantineDir = join(this.root, "quarantine")
  }

  /** blobs/<alg>/<hex>; the digest is parsed first, so `sha256:../../x` never becomes a path. */
  blobPath(digest: Digest | string): string {
    const d = parseDigest(digest)
    return join(this.blobsDir, digestAlgorithm(d), digestHex(d))
  }

  /** Lock file guarding index.json rewrites. */
  get indexLock(): string {
    return join(this.locksDir, "index.lock")
  }

  /** Lock serializing blob commits and deletes against garbage collection. */
  get gcLock(): string {
    return join(this.locksDir, "gc.lock")
  }

  async ensureDir(dir: string): Promise<void> {
    try {
      await mkdir(dir)
      await fsyncDir(join(dir, ".."))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    }
  }
}

export interface OpenOptions {
  /** create the layout when the directory is missing or empty (default true) */
  readonly create?: boolean
}

const emptyIndex = `${JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] }, null, 2)}\n`

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false
    throw e
  }
}

/** Check `oci-layout` says imageLayoutVersion 1.x (image-layout.md "oci-layout file"). */
async function checkOciLayout(layout: Layout): Promise<void> {
  const text = await readFile(layout.ociLayoutPath, "utf8")
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new IndexFileError({ path: layout.ociLayoutPath, reason: `not valid JSON (${(e as Error).message})` })
  }
  const version = (json as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion
  if (typeof version !== "string" || !/^1\.\d+\.\d+$/.test(version)) {
    throw new IndexFileError({
      path: layout.ociLayoutPath,
      reason: `imageLayoutVersion must be "1.0.0", got ${JSON.stringify(version)}`
    })
  }
}

/**
 * Open a layout directory, creating it when missing or empty. A directory holding other files
 * but no `oci-layout` is refused rather than turned into a layout.
 */
export async function openLayout(root: string, options: OpenOptions = {}): Promise<Layout> {
  return open(root, options, false)
}

async function open(root: string, options: OpenOptions, listedOciLayout: boolean): Promise<Layout> {
  const layout = new Layout(root)
  if (await exists(layout.ociLayoutPath)) {
    await checkOciLayout(layout)
    if (!(await exists(layout.indexPath))) {
      throw new LayoutError({ path: layout.root, reason: "index.json is missing (image-layout.md requires it)" })
    }
    return layout
  }
  if (options.create === false) {
    throw new LayoutError({ path: layout.root, reason: "no oci-layout file (pass create to make a new layout)" })
  }
  let entries: string[] = []
  try {
    entries = await readdir(layout.root)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
    await mkdir(layout.root, { recursive: true })
  }
  // another process made the layout between the check above and this listing (its oci-layout
  // comes last, once the layout is complete): open what it made
  if (entries.includes(basename(layout.ociLayoutPath))) {
    // listed, yet not there when looked for twice: a dangling link or something unreadable
    if (listedOciLayout) throw new LayoutError({ path: layout.root, reason: "oci-layout is listed but cannot be read (a dangling symlink?)" })
    return open(root, options, true)
  }
  const foreign = entries.filter((n) => n !== "blobs" && n !== INDEX_FILE && !n.startsWith(".") && !(cairnDirs as readonly string[]).includes(n))
  if (foreign.length > 0) {
    throw new LayoutError({ path: layout.root, reason: `directory is not empty and has no oci-layout file (found ${foreign.slice(0, 3).join(", ")})` })
  }
  await layout.ensureDir(layout.blobsDir)
  await layout.ensureDir(join(layout.blobsDir, "sha256"))
  // index.json first, oci-layout last: a layout with oci-layout is always complete
  await createFileExclusive(layout.indexPath, emptyIndex)
  await createFileExclusive(layout.ociLayoutPath, `${JSON.stringify({ imageLayoutVersion: IMAGE_LAYOUT_VERSION })}\n`)
  return layout
}
