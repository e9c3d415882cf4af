// The engine root (DESIGN.md "On-disk layout of an engine root"): the OCI layout itself plus
// snapshots/, containers/, locks/ beside it.
import { homedir } from "node:os"
import { join, resolve } from "node:path"

/** --root, else CAIRN_ROOT, else /var/lib/cairn for root, else ${XDG_DATA_HOME:-~/.local/share}/cairn. */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CAIRN_ROOT !== undefined && env.CAIRN_ROOT !== "") return resolve(env.CAIRN_ROOT)
  if (process.getuid?.() === 0) return "/var/lib/cairn"
  const data = env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== "" ? env.XDG_DATA_HOME : join(homedir(), ".local", "share")
  return join(data, "cairn")
}

export class RootLayout {
  constructor(readonly root: string) {}
  get snapshots() {
    return join(this.root, "snapshots")
  }
  get containers() {
    return join(this.root, "containers")
  }
  get locks() {
    return join(this.root, "locks")
  }
  snapshot(chainHex: string) {
    return join(this.snapshots, chainHex)
  }
  snapshotFs(chainHex: string) {
    return join(this.snapshots, chainHex, "fs")
  }
  container(id: string) {
    return join(this.containers, id)
  }
}
