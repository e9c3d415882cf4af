// The flags of mount(2) and umount2(2) (include/uapi/linux/mount.h), the generic `-o` options
// mount(8) turns into them, and one mount(2) call as data (what helper.ts sends).
/** include/uapi/linux/mount.h */
export const MS_RDONLY = 1
export const MS_NOSUID = 2
export const MS_NODEV = 4
export const MS_NOEXEC = 8
export const MS_SYNCHRONOUS = 16
export const MS_REMOUNT = 32
export const MS_NOATIME = 1024
export const MS_NODIRATIME = 2048
export const MS_BIND = 4096
export const MS_RELATIME = 1 << 21
export const MS_STRICTATIME = 1 << 24
/** umount2(2): detach now, finish when the last user leaves (umount -l). */
export const MNT_DETACH = 2

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [MS_RDONLY, "MS_RDONLY"], [MS_NOSUID, "MS_NOSUID"], [MS_NODEV, "MS_NODEV"], [MS_NOEXEC, "MS_NOEXEC"],
  [MS_SYNCHRONOUS, "MS_SYNCHRONOUS"], [MS_REMOUNT, "MS_REMOUNT"], [MS_NOATIME, "MS_NOATIME"], [MS_NODIRATIME, "MS_NODIRATIME"],
  [MS_BIND, "MS_BIND"], [MS_RELATIME, "MS_RELATIME"], [MS_STRICTATIME, "MS_STRICTATIME"]
]

/**
 * Generic options that mount(8) turns into MS_* flags instead of passing them to the
 * filesystem (libmount's optmap): [flags set, flags cleared].
 */
const GENERIC_OPTIONS: Readonly<Record<string, readonly [number, number]>> = {
  defaults: [0, 0],
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0],
  suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0],
  dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0],
  exec: [0, MS_NOEXEC],
  sync: [MS_SYNCHRONOUS, 0],
  async: [0, MS_SYNCHRONOUS],
  noatime: [MS_NOATIME, 0],
  atime: [0, MS_NOATIME],
  nodiratime: [MS_NODIRATIME, 0],
  diratime: [0, MS_NODIRATIME],
  relatime: [MS_RELATIME, 0],
  norelatime: [0, MS_RELATIME],
  strictatime: [MS_STRICTATIME, 0],
  nostrictatime: [0, MS_STRICTATIME]
}

/**
 * Splits `-o` data as mount(8) would: generic options become MS_* flags, the rest stays the
 * filesystem's data. Safe to split on "," because plans never put "," inside a path (plan.ts).
 */
export const mountFlags = (data: string): { readonly flags: number; readonly data: string } => {
  let flags = 0
  const rest: Array<string> = []
  for (const option of data.split(",")) {
    const generic = GENERIC_OPTIONS[option]
    if (generic === undefined) {
      if (option !== "") rest.push(option)
    } else flags = (flags & ~generic[1]) | generic[0]
  }
  return { flags, data: rest.join(",") }
}

export const describeFlags = (flags: number): string =>
  FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name).join("|") || "0"

/** One mount(2) call; null is a NULL pointer. */
export interface MountCall {
  /** The directory the helper chdir()s to first, for relative paths in `data`. */
  readonly cwd?: string | undefined
  readonly source: string | null
  readonly target: string
  readonly fstype: string | null
  readonly flags: number
  readonly data: string | null
}

/** `mount(2) overlay on /x flags=MS_RDONLY -o lowerdir=...`, for errors and logs. */
export const describeMountCall = (call: MountCall): string => {
  // an overlay's source is a free-form name, shown only when it differs from the type
  const what = call.fstype === null ? call.source : call.source === null || call.source === call.fstype ? call.fstype : `${call.fstype} ${call.source}`
  return [
    call.cwd === undefined ? undefined : `(cd ${call.cwd})`,
    "mount(2)",
    what ?? undefined,
    `on ${call.target}`,
    call.flags === 0 ? undefined : `flags=${describeFlags(call.flags)}`,
    call.data === null || call.data === "" ? undefined : `-o ${call.data}`
  ].filter((part) => part !== undefined).join(" ")
}
