// A bounded soak on loopback (issue #14): skopeo pushes and pulls in parallel while POST /gc
// loops. Every push removes its tag again, so the next GC makes its blobs garbage and the next
// push must upload them again (or find them by HEAD just before a GC): the window in which GC
// used to take a pushed blob before its manifest arrived. Every operation succeeds, fsck is
// clean, and nothing is left in ingest/ or api-uploads/.
import { mkdir, readdir, rm } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildImage, type EngineServer, exec, haveTools, startEngineServer } from "./engineFixture.js"
import { tempDir } from "./fixtures.js"

if (!haveTools) console.warn("skipping the push/pull/GC soak: skopeo or umoci is not installed (apt-get install -y skopeo umoci)")

/** wall-clock budget of the loops (each started operation still finishes) */
const SOAK_MS = Number(process.env.CAIRN_API_SOAK_MS ?? 25_000)

describe.skipIf(!haveTools)("push, pull and GC in parallel", () => {
  let srv: EngineServer
  let work: string
  let layout: string
  let pushed: string
  beforeAll(async () => {
    work = await tempDir()
    const stable = await buildImage(work)
    layout = stable.layout
    // the pushers' image must share nothing with the pulled one, or its tag would keep all blobs
    await mkdir(join(work, "pushed"))
    const other = await buildImage(join(work, "pushed"))
    expect(other.manifestDigest).not.toBe(stable.manifestDigest)
    pushed = other.layout
    srv = await startEngineServer()
  })
  afterAll(async () => {
    await srv?.stop()
    await rm(work, { recursive: true, force: true })
  })

  it("every skopeo push and pull succeeds while GC loops; fsck clean, ingest/ empty", async () => {
    const host = `127.0.0.1:${srv.port}`
    const tls = ["--dest-tls-verify=false"]
    // a tag no one removes: what the puller reads
    await exec("skopeo", ["copy", ...tls, `oci:${layout}:latest`, `docker://${host}/soak/stable:v1`])
    const deadline = Date.now() + SOAK_MS
    const counts = { pushes: 0, pulls: 0, gcs: 0, removed: 0 }
    const failures: string[] = []
    const attempt = async (what: string, f: () => Promise<unknown>) => {
      try {
        await f()
      } catch (e) {
        failures.push(`${what}: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`)
      }
    }

    const pusher = async (n: number) => {
      for (let i = 0; Date.now() < deadline || i < 2; i++) {
        await attempt(`push ${n}/${i}`, async () => {
          await exec("skopeo", ["copy", ...tls, `oci:${pushed}:latest`, `docker://${host}/soak/p${n}:latest`])
          counts.pushes++
          const del = await fetch(`http://${host}/v2/soak/p${n}/manifests/latest`, { method: "DELETE" })
          if (del.status !== 202) throw new Error(`DELETE answered ${del.status}`)
        })
      }
    }
    const puller = async () => {
      for (let i = 0; Date.now() < deadline || i < 2; i++) {
        const dest = join(work, `pulled-${i}`)
        await attempt(`pull ${i}`, async () => {
          await exec("skopeo", ["copy", "--src-tls-verify=false", `docker://${host}/soak/stable:v1`, `oci:${dest}:v1`])
          counts.pulls++
        })
        await rm(dest, { recursive: true, force: true })
      }
    }
    const collector = async () => {
      while (Date.now() < deadline) {
        await attempt("gc", async () => {
          const res = await fetch(`http://${host}/gc`, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })
          if (res.status !== 200) throw new Error(`POST /gc answered ${res.status}: ${await res.text()}`)
          counts.removed += ((await res.json()) as { removed: string[] }).removed.length
          counts.gcs++
        })
      }
    }
    await Promise.all([pusher(1), pusher(2), puller(), collector()])
    console.log(`soak: ${counts.pushes} pushes, ${counts.pulls} pulls, ${counts.gcs} GCs removing ${counts.removed} blobs/snapshots`)
    expect(failures).toEqual([])
    // GC really did take the pushed blobs between pushes: the race was exercised
    expect(counts.removed).toBeGreaterThan(0)
    expect(counts.pushes).toBeGreaterThanOrEqual(4)

    const fsck = await fetch(`http://${host}/fsck`)
    const report = (await fsck.json()) as { ok: boolean; problems: string[] }
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    expect((await readdir(join(srv.root, "ingest")).catch(() => [])).filter((n) => !n.endsWith(".lock"))).toEqual([])
    expect(await readdir(join(srv.root, "api-uploads"))).toEqual([])
  })
})
