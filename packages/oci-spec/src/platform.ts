// Platforms (image-index.md "platform") and containerd-style normalization and matching. The
// Platform schema is in platformSchema.ts, so matching loads no effect/Schema.
import * as Data from "effect/Data"

/** A platform after normalization: lowercase, canonical architecture names, explicit default variants. */
export interface NormalizedPlatform {
  readonly os: string
  readonly architecture: string
  readonly variant: string
  readonly osVersion?: string
}

/** The platform fields matching looks at (a descriptor's `platform`, a config, or a parsed string). */
export interface PlatformLike {
  readonly os: string
  readonly architecture: string
  readonly variant?: string
  readonly "os.version"?: string
}

/** An index offered no manifest for the wanted platform. */
export class NoMatchingPlatformError extends Data.TaggedError("NoMatchingPlatformError")<{
  readonly wanted: string
  readonly available: ReadonlyArray<string>
}> {
  override get message(): string {
    const offers = this.available.length === 0 ? "no platform-specific manifests" : this.available.join(", ")
    return `no manifest for platform ${this.wanted}; the index offers ${offers}`
  }
}

/** A platform string that is not `os[/arch[/variant]]`. */
export class InvalidPlatformError extends Data.TaggedError("InvalidPlatformError")<{ readonly input: string }> {
  override get message(): string {
    return `invalid platform "${this.input}": expected os/architecture[/variant], e.g. linux/arm64/v8`
  }
}

// Mirrors containerd's platforms.Normalize (database.go): aliases of the same ISA collapse to the
// GOARCH name, and the implied default variant is made explicit so "arm64" equals "arm64/v8".
const normalizeArch = (arch: string, variant: string): [string, string] => {
  const a = arch.toLowerCase()
  const v = variant.toLowerCase()
  switch (a) {
    case "i386":
    case "i686":
    case "x86":
      return ["386", ""]
    case "x86_64":
    case "x86-64":
    case "amd64":
      return ["amd64", v === "v1" ? "" : v]
    case "aarch64":
    case "arm64":
      return ["arm64", v === "" || v === "8" || v === "v8.0" ? "v8" : /^\d/.test(v) ? `v${v}` : v]
    case "armhf":
      return ["arm", "v7"]
    case "armel":
      return ["arm", "v6"]
    case "arm":
      return ["arm", v === "" ? "v7" : /^\d+$/.test(v) ? `v${v}` : v]
    default: {
      // armv7l / armv6l as reported by uname
      const m = /^armv(\d)l?$/.exec(a)
      if (m) return ["arm", `v${m[1]}`]
      return [a, v]
    }
  }
}

const normalizeOs = (os: string): string => {
  const o = os.toLowerCase()
  return o === "macos" ? "darwin" : o
}

export const normalizePlatform = (p: PlatformLike): NormalizedPlatform => {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? "")
  return {
    os: normalizeOs(p.os),
    architecture,
    variant,
    ...(p["os.version"] === undefined ? {} : { osVersion: p["os.version"] })
  }
}

/** Parses `os`, `os/arch` or `os/arch/variant` (e.g. "linux/arm64/v8") and normalizes it. */
export const parsePlatform = (s: string): NormalizedPlatform => {
  const parts = s.trim().split("/")
  if (parts.length > 3 || parts.some((x) => x === "" || /\s/.test(x))) throw new InvalidPlatformError({ input: s })
  const [os, arch, variant] = parts as [string, string?, string?]
  // containerd: a lone OS means the host architecture
  const host = hostPlatform()
  return normalizePlatform({
    os,
    architecture: arch ?? host.architecture,
    ...(arch === undefined ? { variant: host.variant } : variant === undefined ? {} : { variant })
  })
}

/** `os/arch[/variant]` of a platform. */
export const formatPlatform = (p: PlatformLike): string => {
  const n = normalizePlatform(p)
  return [n.os, n.architecture, n.variant].filter((x) => x !== "").join("/")
}

/** The platform of this process, from process.platform / process.arch. */
export const hostPlatform = (): NormalizedPlatform => {
  const os = process.platform === "win32" ? "windows" : process.platform
  const arch = (
    { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" } as Record<string, string>
  )[process.arch] ?? process.arch
  const armVersion = (process.config.variables as { arm_version?: string | number }).arm_version
  const variant = arch === "arm" && armVersion !== undefined ? `v${armVersion}` : ""
  return normalizePlatform({ os, architecture: arch, variant })
}

const toNormalized = (p: PlatformLike | string): NormalizedPlatform =>
  typeof p === "string" ? parsePlatform(p) : normalizePlatform(p)

/** Exact match after normalization (containerd `platforms.Only(...)` without fallbacks). */
export const matchPlatform = (wanted: PlatformLike | string, candidate: PlatformLike | string): boolean => {
  const w = toNormalized(wanted)
  const c = toNormalized(candidate)
  if (w.os !== c.os || w.architecture !== c.architecture || w.variant !== c.variant) return false
  // Windows images are pinned to a build; only compare os.version when both sides state one.
  return w.osVersion === undefined || c.osVersion === undefined || w.osVersion === c.osVersion
}

// Platforms a host can also run, best first (containerd platforms.Only: arm64 runs arm v8..v5,
// arm vN runs arm below N, amd64 runs 386, amd64 vN runs lower levels).
const fallbacks = (w: NormalizedPlatform): NormalizedPlatform[] => {
  const out: NormalizedPlatform[] = []
  const level = (v: string) => Number(/^v(\d+)/.exec(v)?.[1] ?? "0")
  if (w.architecture === "arm64") {
    for (const v of ["v8", "v7", "v6", "v5"]) out.push({ os: w.os, architecture: "arm", variant: v })
  } else if (w.architecture === "arm") {
    for (let n = level(w.variant) - 1; n >= 5; n--) out.push({ os: w.os, architecture: "arm", variant: `v${n}` })
  } else if (w.architecture === "amd64") {
    for (let n = level(w.variant) - 1; n >= 2; n--) out.push({ os: w.os, architecture: "amd64", variant: `v${n}` })
    if (w.variant !== "") out.push({ os: w.os, architecture: "amd64", variant: "" })
    out.push({ os: w.os, architecture: "386", variant: "" })
  }
  return out
}

/** How well `candidate` fits `wanted`: 0 exact, 1.. a compatible fallback, undefined if it cannot run. */
export const platformRank = (wanted: PlatformLike | string, candidate: PlatformLike | string): number | undefined => {
  if (matchPlatform(wanted, candidate)) return 0
  const c = toNormalized(candidate)
  const i = fallbacks(toNormalized(wanted)).findIndex((f) => matchPlatform(f, c))
  return i === -1 ? undefined : i + 1
}

/**
 * The best manifest of an index for a platform (default: the host): an exact match first, then the
 * closest compatible one; ties go to the earlier entry (image-index.md leaves the order to the author).
 * Throws {@link NoMatchingPlatformError} listing what the index offers.
 */
export const selectManifest = <D extends { readonly platform?: PlatformLike | undefined }>(
  index: { readonly manifests: ReadonlyArray<D> },
  wanted: PlatformLike | string = hostPlatform()
): D => {
  let best: D | undefined
  let bestRank = Number.POSITIVE_INFINITY
  for (const d of index.manifests) {
    if (d.platform === undefined) continue
    const r = platformRank(wanted, d.platform)
    if (r !== undefined && r < bestRank) [best, bestRank] = [d, r]
  }
  if (best !== undefined) return best
  throw new NoMatchingPlatformError({
    wanted: typeof wanted === "string" ? formatPlatform(parsePlatform(wanted)) : formatPlatform(wanted),
    available: index.manifests.flatMap((d) => (d.platform === undefined ? [] : [formatPlatform(d.platform)]))
  })
}
