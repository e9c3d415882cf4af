import { relative, sep } from "node:path"
import * as Effect from "effect/Effect"
import { OptionsTooLongError } from "./errors.js"
import { featureOptions, type OverlaySpec } from "./spec.js"

/** A symlink the performer creates in a fresh directory before mounting from inside it. */
export interface ShortLink {
  readonly name: string
  readonly target: string
}

/**
 * How to call mount for a spec: the exact `-o` data string, the directory to run in, and
 * the short links it needs. Pure, so it is tested without mounting.
 */
export interface MountPlan {
  readonly target: string
  readonly data: string
  /**
   * - absolute: every path as given;
   * - relative: paths relative to their common parent, mount run with that cwd;
   * - links: symlinks named 0, 1, ... in a fresh directory that becomes the cwd
   *   (as docker's overlay2 `l/` links, but shorter, so 500 layers fit in one page);
   * - lowerdir+: one `lowerdir+=` option per layer, each sent by util-linux >= 2.39 as its
   *   own fsconfig(2) call (kernel >= 6.8), so no page limit applies to the whole list;
   * - bind: a read-only view of a single lower, which overlayfs refuses ("at least 2
   *   lowerdir are needed while upperdir nonexistent"); containerd binds it read-only too.
   */
  readonly strategy: "absolute" | "relative" | "links" | "lowerdir+" | "bind"
  /** For `bind`: the one lower, bind-mounted read-only. */
  readonly source?: string
  readonly cwd?: string
  readonly links?: ReadonlyArray<ShortLink>
}

export interface PlanOptions {
  /** mount(2) copies at most one page of data, NUL included (fs/namespace.c copy_mount_options). */
  readonly pageSize?: number
  /** Extra options appended after the overlay ones (e.g. driver specific). */
  readonly extra?: ReadonlyArray<string>
  /** Plan a read-only bind mount for one lower without upper (default true; fuse-overlayfs takes one lower). */
  readonly bindSingleLower?: boolean
  /** mount(8) and kernel accept `lowerdir+=` (util-linux >= 2.39 with kernel >= 6.8); used instead of links. */
  readonly lowerdirPlus?: boolean
}

/** Characters that the overlay option parser treats as separators or escapes. */
const UNSAFE = /[,:\\"]/

const commonParent = (paths: ReadonlyArray<string>): string => {
  const split = paths.map((p) => p.split(sep))
  const first = split[0] ?? []
  let n = 0
  // The parent, never a path itself: a lower equal to the parent would become "".
  while (n < first.length - 1 && split.every((s) => s.length - 1 > n && s[n] === first[n])) n++
  const parent = first.slice(0, n).join(sep)
  return parent === "" ? sep : parent
}

const upperWork = (upper: string | undefined, work: string | undefined): Array<string> =>
  upper !== undefined && work !== undefined ? [`upperdir=${upper}`, `workdir=${work}`] : []

const dataOf = (lowers: ReadonlyArray<string>, upper: string | undefined, work: string | undefined, rest: ReadonlyArray<string>) =>
  [`lowerdir=${lowers.join(":")}`, ...upperWork(upper, work), ...rest].join(",")

/** Chooses the shortest-to-explain strategy that fits the page: absolute, then relative, then links. */
export const planOverlayMount = (spec: OverlaySpec, options: PlanOptions = {}): MountPlan => {
  const limit = (options.pageSize ?? 4096) - 1
  const [only] = spec.lowers
  if (spec.upper === undefined && spec.lowers.length === 1 && only !== undefined && options.bindSingleLower !== false) {
    return { target: spec.target, data: "bind,ro", strategy: "bind", source: only }
  }
  const rest = [...featureOptions(spec.options), ...(options.extra ?? [])]
  const all = [...spec.lowers, ...(spec.upper !== undefined ? [spec.upper] : []), ...(spec.work !== undefined ? [spec.work] : [])]
  const safe = all.every((p) => !UNSAFE.test(p))
  if (safe) {
    const data = dataOf(spec.lowers, spec.upper, spec.work, rest)
    if (data.length <= limit) return { target: spec.target, data, strategy: "absolute" }
    const cwd = commonParent(all)
    const rel = (p: string) => relative(cwd, p)
    const relData = dataOf(spec.lowers.map(rel), spec.upper && rel(spec.upper), spec.work && rel(spec.work), rest)
    if (relData.length <= limit) return { target: spec.target, data: relData, strategy: "relative", cwd }
    if (options.lowerdirPlus === true) {
      const data = [...spec.lowers.map((l) => `lowerdir+=${l}`), ...upperWork(spec.upper, spec.work), ...rest].join(",")
      return { target: spec.target, data, strategy: "lowerdir+" }
    }
  }
  const links: Array<ShortLink> = spec.lowers.map((target, i) => ({ name: i.toString(36), target }))
  // upper and work are linked too only when their names would break the option syntax.
  const linkIfUnsafe = (name: string, p: string | undefined) => {
    if (p === undefined || !UNSAFE.test(p)) return p
    links.push({ name, target: p })
    return name
  }
  const upper = linkIfUnsafe("u", spec.upper)
  const work = linkIfUnsafe("w", spec.work)
  const data = dataOf(spec.lowers.map((_, i) => i.toString(36)), upper, work, rest)
  if (data.length > limit) throw new OptionsTooLongError({ length: data.length, limit })
  return { target: spec.target, data, strategy: "links", links }
}

export const planOverlayMountEffect = (spec: OverlaySpec, options?: PlanOptions): Effect.Effect<MountPlan, OptionsTooLongError> =>
  Effect.try({ try: () => planOverlayMount(spec, options), catch: (e) => e as OptionsTooLongError })
