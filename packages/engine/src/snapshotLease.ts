// Snapshot leases: an operation that is about to use snapshots no image references yet (an
// import between extraction and tag, a pull extracting early) lists their chainIDs in
// locks/leases/<pid>-<rand>.json; prune keeps them while that pid lives.
import { randomBytes } from "node:crypto"
import { mkdir, readdir, rm } from "node:fs/promises"
import { join } from "node:path"
import type { Digest } from "@cairn/digest"
import { pidAlive, readJson, writeJsonAtomic } from "./atomic.js"
import type { RootLayout } from "./root.js"

const leasesDir = (layout: RootLayout) => join(layout.locks, "leases")

export async function withSnapshotLease<T>(
  layout: RootLayout,
  chains: ReadonlyArray<Digest>,
  f: (add: (more: ReadonlyArray<Digest>) => Promise<void>) => Promise<T>
): Promise<T> {
  await mkdir(leasesDir(layout), { recursive: true })
  const file = join(leasesDir(layout), `${process.pid}-${randomBytes(6).toString("hex")}.json`)
  const held = [...chains]
  await writeJsonAtomic(file, { pid: process.pid, chains: held })
  const add = async (more: ReadonlyArray<Digest>) => {
    held.push(...more)
    await writeJsonAtomic(file, { pid: process.pid, chains: held })
  }
  try {
    return await f(add)
  } finally {
    await rm(file, { force: true })
  }
}

/** ChainIDs held by live leases; leases of dead processes are removed. */
export async function leasedChains(layout: RootLayout): Promise<Set<string>> {
  const out = new Set<string>()
  for (const name of await readdir(leasesDir(layout)).catch(() => [] as Array<string>)) {
    const pid = Number(name.split("-")[0])
    const path = join(leasesDir(layout), name)
    if (!name.endsWith(".json")) {
      if (!pidAlive(Number(/\.tmp-(\d+)-/.exec(name)?.[1]))) await rm(path, { force: true })
      continue
    }
    if (!pidAlive(pid)) {
      await rm(path, { force: true })
      continue
    }
    const lease = await readJson<{ chains: Array<string> }>(path).catch(() => undefined)
    for (const c of lease?.chains ?? []) out.add(c)
  }
  return out
}
