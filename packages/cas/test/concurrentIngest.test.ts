// Two processes storing the same blob (two pulls of one layer): the second sees the first's
// ingest in progress and resumes; it must wait for the first and succeed, not fail.
import { execFileSync, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"
import { Store } from "../src/index.js"
// @ts-expect-error plain JS shared with the child processes
import { blobData } from "./child/blobData.mjs"
import { tempDir } from "./tempLayout.js"

const here = dirname(fileURLToPath(import.meta.url))
const child = join(here, "child", "halfPut.mjs")

beforeAll(() => {
  execFileSync("npx", ["tsc", "-b"], { cwd: join(here, ".."), stdio: "inherit" })
}, 180_000)

/** A child holding the ingest of blob k half written; resolves once the half is on disk. */
function startHalfPut(dir: string, k: number, size: number) {
  const p = spawn(process.execPath, [child, dir, String(k), String(size)], { stdio: ["pipe", "pipe", "pipe"] })
  let err = ""
  p.stderr.on("data", (c: Buffer) => {
    err += c.toString()
  })
  const lines: Array<Record<string, unknown>> = []
  let buf = ""
  let onLine: () => void = () => {}
  p.stdout.on("data", (c: Buffer) => {
    buf += c.toString()
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      lines.push(JSON.parse(buf.slice(0, nl)))
      buf = buf.slice(nl + 1)
      onLine()
    }
  })
  const half = new Promise<void>((resolve, reject) => {
    onLine = () => {
      if (lines.some((l) => l.half !== undefined)) resolve()
    }
    p.on("exit", () => reject(new Error(`child exited early: ${err}`)))
  })
  const exit = new Promise<{ code: number | null; signal: string | null; lines: typeof lines; err: string }>((resolve) =>
    p.on("exit", (code, signal) => resolve({ code, signal, lines, err }))
  )
  return { half, exit, send: (w: string) => p.stdin.write(`${w}\n`) }
}

describe("two processes storing the same blob", () => {
  it("the second, resuming from the first's partial bytes, waits for it and finds the blob", async () => {
    const dir = tempDir()
    const size = 1 << 20
    const data: Buffer = blobData(7, size)
    const digest = blobData.digest(data) as string
    const a = startHalfPut(dir, 7, size)
    await a.half
    const store = await Store.open(dir)
    // what a registry pull does: ask how much is held, then resume from there
    const offset = await store.ingestOffset(digest)
    expect(offset).toBe(size >> 1)
    let waited!: () => void
    const waiting = new Promise<void>((r) => {
      waited = r
    })
    const resumed = store.resume({ digest, size }, offset, [data.subarray(offset)], { onWait: () => waited() })
    // before: IngestBusyError at once ("... is in progress in ...; wait for it or put without resuming")
    await Promise.race([waiting, resumed])
    a.send("go")
    const r = await resumed
    expect(r).toMatchObject({ digest, size, created: false })
    const first = await a.exit
    expect(first.code).toBe(0)
    expect(first.lines.at(-1)).toMatchObject({ done: true, created: true })
    expect(Buffer.from(await store.read(digest as never)).equals(data)).toBe(true)
    expect((await store.fsck()).ok).toBe(true)
  }, 60_000)

  it("when the first writer dies mid-blob, the waiting one continues its partial bytes", async () => {
    const dir = tempDir()
    const size = 1 << 20
    const data: Buffer = blobData(8, size)
    const digest = blobData.digest(data) as string
    const a = startHalfPut(dir, 8, size)
    await a.half
    const store = await Store.open(dir)
    const offset = await store.ingestOffset(digest)
    let waited!: () => void
    const waiting = new Promise<void>((r) => {
      waited = r
    })
    const resumed = store.resume({ digest, size }, offset, [data.subarray(offset)], { onWait: () => waited() })
    await Promise.race([waiting, resumed])
    a.send("die")
    expect((await a.exit).signal).toBe("SIGKILL")
    expect(await resumed).toMatchObject({ digest, size, created: true })
    expect(Buffer.from(await store.read(digest as never)).equals(data)).toBe(true)
  }, 60_000)

  it("a writer that makes no progress is reported after the stall limit, naming its pid and what to do", async () => {
    const dir = tempDir()
    const size = 1 << 20
    const data: Buffer = blobData(9, size)
    const digest = blobData.digest(data) as string
    const a = startHalfPut(dir, 9, size)
    await a.half
    const store = await Store.open(dir)
    const offset = await store.ingestOffset(digest)
    const err = await store.resume({ digest, size }, offset, [data.subarray(offset)], { stallMs: 300 }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toMatchObject({ _tag: "IngestBusyError", message: expect.stringMatching(/another process \(pid \d+\) is storing sha256:[0-9a-f]{64} and wrote nothing for \d+ s: retry/) })
    a.send("go")
    expect((await a.exit).code).toBe(0)
  }, 60_000)
})
