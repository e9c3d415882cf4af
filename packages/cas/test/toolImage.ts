import { execFileSync, spawnSync } from "node:child_process"
import { join } from "node:path"

export const have = (tool: string) => spawnSync(tool, ["--version"], { stdio: "ignore" }).status === 0
export const haveUmoci = have("umoci")
export const haveSkopeo = have("skopeo")
if (!haveUmoci) console.warn("umoci not installed: skipping tests that need umoci-made images (apt-get install umoci)")
if (!haveSkopeo) console.warn("skopeo not installed: skipping skopeo interop tests (apt-get install skopeo)")

export function run(tool: string, args: readonly string[]): string {
  return execFileSync(tool, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
}

/** A one-layer busybox image made by umoci in an OCI layout at dir, tagged `tag`. */
export function umociImage(dir: string, tag = "base"): string {
  run("umoci", ["init", "--layout", dir])
  run("umoci", ["new", "--image", `${dir}:${tag}`])
  run("umoci", ["insert", "--image", `${dir}:${tag}`, "/bin/busybox", "/bin/busybox"])
  return join(dir)
}
