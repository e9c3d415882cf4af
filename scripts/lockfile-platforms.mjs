// Keeps package-lock.json installable with `npm ci` on machines whose registry serves only the
// platform packages of this OS (linux-x64 here): npm lists every platform's optional binary
// (turbo's, biome's) in the lock entries' optionalDependencies, but writes entries only for what
// it could resolve, and `npm ci` then rejects the lock as out of sync. We drop the optional edges
// that have no entry. cairn targets Linux (overlayfs); a lock written where every platform resolves
// keeps them all, and this script then changes nothing. Run by the root `postinstall`.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const file = join(import.meta.dirname, "..", "package-lock.json")
const lock = JSON.parse(readFileSync(file, "utf8"))
const dropped = []
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  if (!entry.optionalDependencies) continue
  for (const dep of Object.keys(entry.optionalDependencies)) {
    const nested = `${path === "" ? "" : `${path}/`}node_modules/${dep}`
    if (!lock.packages[nested] && !lock.packages[`node_modules/${dep}`]) {
      delete entry.optionalDependencies[dep]
      dropped.push(`${path || "(root)"} -> ${dep}`)
    }
  }
}
if (dropped.length > 0) {
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`)
  console.log(`lockfile-platforms: dropped ${dropped.length} optional platform packages this registry does not serve`)
}
