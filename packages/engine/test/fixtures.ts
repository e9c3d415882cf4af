// Test images built from files on this machine: GNU tar layers, gzip, a hand-written OCI layout.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { gzipSync } from "node:zlib"
import { expect } from "vitest"
import type { Engine } from "../src/index.js"

export const BUSYBOX = "/bin/busybox"

export const tempDir = (prefix = "cairn-engine-"): string => mkdtempSync(join(tmpdir(), prefix))

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`

/** A layer spec: files (path -> content), symlinks, whiteouts (paths deleted), opaque dirs. */
export interface LayerSpec {
  readonly files?: Record<string, string | Buffer | { copyFrom: string; mode?: number }>
  readonly dirs?: ReadonlyArray<string>
  readonly symlinks?: Record<string, string>
  /** paths whose `.wh.<name>` entry this layer carries */
  readonly whiteouts?: ReadonlyArray<string>
  /** the layer's tar as it is (everything above is then ignored): entries GNU tar would not write */
  readonly tar?: Buffer
}

/** The tar bytes of a layer (GNU tar, sorted, numeric owner 0/0, fixed mtime). */
export function layerTar(spec: LayerSpec): Buffer {
  const root = tempDir("cairn-layer-")
  try {
    for (const d of spec.dirs ?? []) mkdirSync(join(root, d), { recursive: true })
    for (const [p, content] of Object.entries(spec.files ?? {})) {
      mkdirSync(dirname(join(root, p)), { recursive: true })
      if (typeof content === "object" && !Buffer.isBuffer(content)) {
        copyFileSync(content.copyFrom, join(root, p))
        execFileSync("chmod", [(content.mode ?? 0o755).toString(8), join(root, p)])
      } else writeFileSync(join(root, p), content)
    }
    for (const [p, target] of Object.entries(spec.symlinks ?? {})) {
      mkdirSync(dirname(join(root, p)), { recursive: true })
      symlinkSync(target, join(root, p))
    }
    for (const p of spec.whiteouts ?? []) {
      mkdirSync(dirname(join(root, p)), { recursive: true })
      writeFileSync(join(dirname(join(root, p)), `.wh.${p.split("/").pop()}`), "")
    }
    execFileSync("chmod", ["755", root]) // mkdtemp made it 0700; an image's / is 0755
    return execFileSync("tar", ["-C", root, "--sort=name", "--numeric-owner", "--owner=0", "--group=0", "--mtime=@1700000000", "-cf", "-", "."], {
      maxBuffer: 256 << 20
    })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

export interface BuiltImage {
  readonly dir: string
  readonly tag: string
  readonly manifestDigest: string
  readonly manifestSize: number
  readonly diffIds: ReadonlyArray<string>
  readonly layerDigests: ReadonlyArray<string>
}

const layerCache = new Map<string, { tar: Buffer; gz: Buffer }>()

/** Writes (or adds to) an OCI layout at dir with an image `tag` of these layers (bottom first). */
export function buildLayout(
  dir: string,
  tag: string,
  layers: ReadonlyArray<LayerSpec>,
  config: { Cmd?: Array<string>; Entrypoint?: Array<string>; Env?: Array<string>; User?: string; WorkingDir?: string } = {},
  history?: ReadonlyArray<{ created_by: string; empty_layer?: boolean }>,
  /** the config's architecture (default this host's) */
  architecture: string = process.arch === "x64" ? "amd64" : process.arch
): BuiltImage {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
  const put = (b: Buffer) => {
    const d = sha(b)
    writeFileSync(join(dir, "blobs", "sha256", d.slice(7)), b)
    return d
  }
  const diffIds: Array<string> = []
  const descs: Array<{ mediaType: string; digest: string; size: number }> = []
  for (const spec of layers) {
    const key = JSON.stringify(spec)
    let entry = layerCache.get(key)
    if (entry === undefined) {
      const tar = spec.tar ?? layerTar(spec)
      entry = { tar, gz: gzipSync(tar) }
      layerCache.set(key, entry)
    }
    diffIds.push(sha(entry.tar))
    descs.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: put(entry.gz), size: entry.gz.length })
  }
  const cfg = Buffer.from(
    JSON.stringify({
      created: "2024-01-01T00:00:00Z",
      architecture,
      os: "linux",
      config: { Env: ["PATH=/bin:/usr/bin"], ...config },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: history ?? layers.map((_, i) => ({ created: "2024-01-01T00:00:00Z", created_by: `layer ${i}` }))
    })
  )
  const cfgDigest = put(cfg)
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgDigest, size: cfg.length },
      layers: descs
    })
  )
  const manifestDigest = put(manifest)
  const indexPath = join(dir, "index.json")
  let index: { schemaVersion: number; manifests: Array<Record<string, unknown>> } = { schemaVersion: 2, manifests: [] }
  try {
    index = JSON.parse(readFileSync(indexPath, "utf8"))
  } catch {}
  index.manifests = index.manifests.filter((m) => (m.annotations as Record<string, string> | undefined)?.["org.opencontainers.image.ref.name"] !== tag)
  index.manifests.push({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: manifestDigest,
    size: manifest.length,
    annotations: { "org.opencontainers.image.ref.name": tag }
  })
  writeFileSync(indexPath, JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: index.manifests }))
  return { dir, tag, manifestDigest, manifestSize: manifest.length, diffIds, layerDigests: descs.map((d) => d.digest) }
}

/**
 * Writes an OCI layout at dir whose `tag` names an image index of one image per architecture
 * (linux/ARCH), as a multi-platform image is published. Returns the index's digest and each image.
 */
export function buildIndexLayout(
  dir: string,
  tag: string,
  images: ReadonlyArray<{ readonly architecture: string; readonly layers: ReadonlyArray<LayerSpec> }>
): { indexDigest: string; indexSize: number; images: Array<BuiltImage & { architecture: string }> } {
  const built = images.map((img) => ({ ...buildLayout(dir, `${tag}-${img.architecture}`, img.layers, {}, undefined, img.architecture), architecture: img.architecture }))
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: built.map((b) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: b.manifestDigest,
        size: b.manifestSize,
        platform: { os: "linux", architecture: b.architecture }
      }))
    })
  )
  const indexDigest = sha(index)
  writeFileSync(join(dir, "blobs", "sha256", indexDigest.slice(7)), index)
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: indexDigest, size: index.length, annotations: { "org.opencontainers.image.ref.name": tag } }]
    })
  )
  return { indexDigest, indexSize: index.length, images: built }
}

/** busybox-static as a one-layer image: /bin/busybox with sh and echo links, /etc/passwd. */
export const busyboxLayer: LayerSpec = {
  files: {
    "bin/busybox": { copyFrom: BUSYBOX, mode: 0o755 },
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n"
  },
  dirs: ["tmp", "root", "proc", "sys", "dev"],
  symlinks: { "bin/sh": "busybox", "bin/echo": "busybox", "bin/ls": "busybox", "bin/cat": "busybox" }
}

export const haveTool = (name: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Lines of /proc/self/mountinfo that mention `under` (a test's own temp dir: files run in parallel). */
export const mountinfoLines = (under = "cairn-engine-"): Array<string> =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(under))

const pkg = join(import.meta.dirname, "..")

const newest = (dir: string): number => {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

/** Whether every workspace package the engine needs has a build newer than its sources. */
function builtFresh(): boolean {
  try {
    return ["digest", "oci-spec", "cas", "overlay", "mount", "registry", "engine"].every((p) => {
      const dir = join(pkg, "..", p)
      return statSync(join(dir, "dist", ".tsbuildinfo")).mtimeMs > newest(join(dir, "src"))
    })
  } catch {
    return false
  }
}

/** The child runs the built package; build it (and its deps) unless the builds are fresh. */
export function buildForChildren(): string | undefined {
  if (builtFresh()) return undefined
  try {
    execFileSync("npx", ["tsc", "-b", pkg], { cwd: join(pkg, "..", ".."), stdio: "pipe" })
    return existsSync(join(pkg, "dist", "index.js")) ? undefined : "dist/index.js missing after tsc -b"
  } catch (e) {
    return `tsc -b failed: ${String((e as { stdout?: Buffer }).stdout ?? e).slice(0, 400)}`
  }
}


/** An engine test's afterAll: its containers removed, the engine closed, no mount left below `dir` (checked before anything is deleted), `dir` removed. */
export async function disposeEngine(engine: Engine, dir: string): Promise<void> {
  for (const c of await engine.listContainers()) await engine.removeContainer(c.id, { force: true })
  await engine.close()
  expect(mountinfoLines(dir)).toEqual([])
  rmSync(dir, { recursive: true, force: true })
}
