// Issue #16 bug 2: as a non-root user `cairn mount` must not hang. The real binary runs as
// uid 65534 (setpriv): outside `cairn unshare` mount fails at once with a one-line hint; inside
// it mount → write → diff → commit → umount works across separate cairn processes, because the
// root's namespace holder keeps the mount; a killed holder leaves the container unmounted.
import { execFileSync, spawnSync } from "node:child_process"
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { e2eSkipReason, have, makeBusyboxLayout } from "./fixtures.js"

const NOBODY = 65534
const bin = join(import.meta.dirname, "..", "bin", "cairn.js")

const asNobody = (argv: string[], env: Record<string, string> = {}, timeout = 120_000) =>
  spawnSync("setpriv", ["--reuid", String(NOBODY), "--regid", String(NOBODY), "--clear-groups", ...argv], {
    encoding: "utf8",
    timeout,
    cwd: "/",
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: "/nonexistent", ...env }
  })

function skipReason(): string | undefined {
  const e2e = e2eSkipReason()
  if (e2e !== undefined) return e2e
  for (const tool of ["setpriv", "unshare", "nsenter"]) if (!have(tool)) return `needs ${tool} (util-linux)`
  const probe = asNobody(["unshare", "--user", "--map-root-user", "--mount", "true"], {}, 30_000)
  if (probe.status !== 0) return `this host does not let an unprivileged user create a user namespace: ${probe.stderr.trim() || `exit ${probe.status}`}`
  return undefined
}

const skip = skipReason()
if (skip) console.warn(`skipping rootless CLI tests: ${skip}`)

/** Resolves once `pid` has died (a zombie or gone), checking its state every 10 ms for at most 10 s. */
const dead = async (pid: number) => {
  for (let i = 0; i < 1000; i++) {
    let state: string | undefined
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      state = stat.slice(stat.lastIndexOf(")") + 2)[0]
    } catch {
      return
    }
    if (state === "Z" || state === "X") return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`process ${pid} did not die within 10 s of SIGKILL`)
}

const chownTree = (dir: string) => {
  chownSync(dir, NOBODY, NOBODY)
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) chownTree(join(dir, e.name))
    else chownSync(join(dir, e.name), NOBODY, NOBODY)
  }
}

describe.skipIf(skip !== undefined)("rootless cairn through cairn unshare (as uid 65534)", () => {
  let tmp: string
  let root: string
  let layout: string
  const cairn = (...args: string[]) => asNobody([process.execPath, bin, "--root", root, "--progress", "none", ...args])
  const ok = (...args: string[]) => {
    const r = cairn(...args)
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    return r.stdout.trim()
  }
  const holderPid = () => (JSON.parse(readFileSync(join(root, "userns.json"), "utf8")) as { pid: number }).pid
  const mounted = () => (JSON.parse(ok("ps", "--json")) as { id: string; mounted: boolean }[]).map((c) => [c.id, c.mounted])

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "cairn-rootless-"))
    root = join(tmp, "root")
    layout = join(tmp, "layout")
    makeBusyboxLayout(layout, tmp)
    chownTree(tmp)
    ok("import", `oci:${layout}:busybox`, "busybox")
  })
  afterAll(() => {
    try {
      process.kill(holderPid(), "SIGKILL") // the holder this test's cairn unshare started
    } catch {}
    rmSync(tmp, { recursive: true, force: true })
  })

  it("refuses mount outside cairn unshare at once, with a one-line hint and a non-zero exit", () => {
    const id = ok("create", "--name", "outside", "busybox")
    const r = cairn("mount", id)
    expect(r.signal).toBeNull() // not killed by the timeout: it returned
    expect(r.status).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toContain('run it inside "cairn unshare"')
    expect(mounted()).toContainEqual([id, false])
  })

  it("mounts, writes, diffs, commits and unmounts inside cairn unshare, each step its own process", () => {
    const id = ok("create", "--name", "inside", "busybox")
    const env = { CAIRN: `${process.execPath} ${bin}`, ID: id }
    const script = [
      "set -e",
      'm=$($CAIRN mount "$ID")',
      'echo "mountpoint $m"',
      'echo changed > "$m/etc/motd"',
      'echo new > "$m/etc/new"',
      'rm "$m/etc/group"'
    ].join("\n")
    const r = asNobody([process.execPath, bin, "--root", root, "unshare", "--", "sh", "-c", script], env)
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    const mountpoint = /^mountpoint (.+)$/m.exec(r.stdout)?.[1]
    expect(mountpoint).toBe(join(root, "containers", id, "merged"))
    // the mount outlived the command: it is in the holder's mount namespace, not in ours
    const holder = holderPid()
    expect(readFileSync(`/proc/${holder}/mountinfo`, "utf8")).toContain(` ${mountpoint} `)
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(` ${mountpoint} `)
    expect(mounted()).toContainEqual([id, true])

    const inside = (...args: string[]) => ok("unshare", "--", process.execPath, bin, "--progress", "none", ...args)
    const expected = ["C /etc", "D /etc/group", "C /etc/motd", "A /etc/new"]
    expect(inside("diff", id).split("\n")).toEqual(expected)
    expect(inside("commit", id, "rootless:v1")).toMatch(/^sha256:[0-9a-f]{64}$/)
    const outside = cairn("umount", id)
    expect(outside.status).toBe(1)
    expect(outside.stderr).toContain('run it inside "cairn unshare"')
    inside("umount", id)
    expect(readFileSync(`/proc/${holder}/mountinfo`, "utf8")).not.toContain(` ${mountpoint} `)
    expect(mounted()).toContainEqual([id, false])
    expect(ok("diff", id).split("\n")).toEqual(expected)

    const inspected = JSON.parse(ok("inspect", "rootless:v1")) as { manifest: { layers: { digest: string }[] } }
    const top = inspected.manifest.layers[inspected.manifest.layers.length - 1]!.digest.replace("sha256:", "")
    const entries = execFileSync("tar", ["tzf", join(root, "blobs/sha256", top)], { encoding: "utf8" }).trim().split("\n")
    expect(entries).toEqual(expect.arrayContaining(["etc/.wh.group", "etc/motd", "etc/new"]))
  })

  it("keeps the writes of a --driver copy mount made outside cairn unshare, and mounts an image with whiteouts and an opaque dir inside it", () => {
    const id = ok("create", "--name", "copied", "busybox")
    const m = ok("--driver", "copy", "mount", id)
    rmSync(join(m, "etc/passwd"))
    rmSync(join(m, "bin"), { recursive: true })
    const script = [
      "set -e",
      'mkdir "$M/bin"',
      'echo x > "$M/bin/only"',
      'echo n > "$M/etc/new"' // written as uid 65534, as the user would
    ].join("\n")
    expect(asNobody(["sh", "-c", script], { M: m }).status).toBe(0)
    ok("umount", id)
    const expected = ["C /bin", "A /bin/only", "C /etc", "A /etc/new", "D /etc/passwd"]
    expect(ok("diff", id).split("\n")).toEqual(expected)
    ok("commit", id, "copied:v1")
    // the committed layer (a whiteout and an opaque dir) extracted and mounted by the kernel in the namespace
    const next = ok("create", "copied:v1")
    const look = 'm=$($CAIRN mount "$ID") && ls "$m/bin" "$m/etc" && $CAIRN umount "$ID"'
    const r = asNobody([process.execPath, bin, "--root", root, "unshare", "--", "sh", "-c", look], { CAIRN: `${process.execPath} ${bin}`, ID: next })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    const listed = r.stdout.split("\n")
    expect(listed).toEqual(expect.arrayContaining(["only", "new", "group", "motd"]))
    expect(listed).not.toContain("passwd")
    expect(listed).not.toContain("busybox")
  })

  it("shows a container unmounted once the holder of its namespace is gone", async () => {
    const id = ok("create", "--name", "orphan", "busybox")
    ok("unshare", "--", process.execPath, bin, "mount", id)
    expect(mounted()).toContainEqual([id, true])
    const holder = holderPid()
    process.kill(holder, "SIGKILL")
    await dead(holder)
    expect(mounted()).toContainEqual([id, false])
    // the next cairn unshare starts a new holder, where it mounts again
    expect(ok("unshare", "--", process.execPath, bin, "mount", id)).toBe(join(root, "containers", id, "merged"))
    expect(holderPid()).not.toBe(holder)
    ok("unshare", "--", process.execPath, bin, "umount", id)
  })
})
