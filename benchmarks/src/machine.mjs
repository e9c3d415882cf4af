// The machine and tool versions a result was measured with.
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { cpus, release, totalmem } from "node:os"
import { join } from "node:path"

const out = (/** @type {string} */ cmd, /** @type {string[]} */ args) => {
  try {
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }).toString().trim()
  } catch {
    return "not installed"
  }
}

export function machineInfo() {
  const c = cpus()
  let load = ""
  try {
    load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  } catch {}
  return {
    cpuModel: c[0]?.model ?? "unknown",
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    loadAverageAtEnd: load
  }
}

/** @param {string} benchDir */
export function toolVersions(benchDir) {
  const root = join(benchDir, "..")
  const dirty = out("git", ["-C", root, "status", "--porcelain", "--", "packages", "benchmarks/src"]) !== ""
  return {
    node: process.version,
    tar: out("tar", ["--version"]).split("\n")[0],
    gzip: out("gzip", ["--version"]).split("\n")[0],
    umoci: out("umoci", ["--version"]),
    skopeo: out("skopeo", ["--version"]),
    sha256sum: out("sha256sum", ["--version"]).split("\n")[0],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    dockerRegistry: out("dpkg-query", ["-W", "-f", "${Version}", "docker-registry"]),
    cairnCommit: out("git", ["-C", root, "rev-parse", "--short", "HEAD"]) + (dirty ? " (+ uncommitted changes in packages/)" : "")
  }
}
