import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const have = (tool: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

export const isRoot = process.getuid?.() === 0
export const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p))

/** Why the end-to-end tests can't run here, or undefined when they can. */
export function e2eSkipReason(): string | undefined {
  if (!isRoot) return "needs root for overlay mounts"
  if (!have("umoci")) return "needs umoci (Debian package umoci) to build the fixture image"
  if (!busybox) return "needs busybox-static (Debian package busybox-static)"
  return undefined
}

/**
 * An OCI layout at `dir` holding `busybox:latest`: /bin/busybox with sh/echo/cat links, /etc
 * files and a Cmd — built by umoci itself, so the layer is a real tool's output.
 */
export function makeBusyboxLayout(dir: string, work: string): string {
  const run = (...args: string[]) => execFileSync("umoci", args, { stdio: "pipe" })
  run("init", "--layout", dir)
  run("new", "--image", `${dir}:busybox`)
  const bundle = join(work, "bundle")
  run("unpack", "--image", `${dir}:busybox`, bundle)
  const rootfs = join(bundle, "rootfs")
  mkdirSync(join(rootfs, "bin"), { recursive: true })
  mkdirSync(join(rootfs, "etc"), { recursive: true })
  mkdirSync(join(rootfs, "tmp"), { recursive: true })
  copyFileSync(busybox!, join(rootfs, "bin/busybox"))
  chmodSync(join(rootfs, "bin/busybox"), 0o755)
  for (const app of ["sh", "echo", "cat", "ls"]) symlinkSync("busybox", join(rootfs, "bin", app))
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nnogroup:x:65534:\n")
  writeFileSync(join(rootfs, "etc/motd"), "welcome to the fixture\n")
  run("repack", "--image", `${dir}:busybox`, bundle)
  run("config", "--image", `${dir}:busybox`, "--config.cmd", "/bin/sh", "--config.env", "PATH=/bin")
  return `${dir}:busybox`
}

/** Mount lines of this process whose paths contain `prefix` (a test's temp directory prefix). */
export const mountsUnder = (prefix: string): string[] => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(prefix))

/** A temp dir holding a busybox OCI layout (`layout`) and a place for a root (`root`); cleanup() unmounts what is left below it and removes it. */
export function busyboxWorkspace(prefix: string): { tmp: string; root: string; layout: string; cleanup(): void } {
  const tmp = mkdtempSync(join(tmpdir(), prefix))
  const layout = join(tmp, "layout")
  makeBusyboxLayout(layout, tmp)
  return {
    tmp,
    root: join(tmp, "root"),
    layout,
    cleanup() {
      for (const line of mountsUnder(prefix)) {
        const target = line.split(" ")[4]
        if (target) spawnSync("umount", ["-l", target])
      }
      rmSync(tmp, { recursive: true, force: true })
    }
  }
}
