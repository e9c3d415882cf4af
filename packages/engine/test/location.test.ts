// Typed image locations: archives read from and written into streams (no file on either side),
// through import, export, copy and unpack, checked against skopeo where it reads the result; a
// stream cut short stores no image and leaves no staged bytes behind.
import { spawnSync } from "node:child_process"
import { createReadStream, readFileSync, rmSync, writeFileSync } from "node:fs"
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import { PassThrough, Readable } from "node:stream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine, type ImageLocation, locationName, parseLocation } from "../src/index.js"
import { buildLayout, busyboxLayer, haveTool, tempDir } from "./fixtures.js"

const haveSkopeo = haveTool("skopeo")
if (!haveSkopeo) console.warn("skipping skopeo's reading of streamed archives: skopeo is not installed (Debian package skopeo)")

/** what a Writable location received, once it ended */
const sink = () => {
  const write = new PassThrough()
  const chunks: Buffer[] = []
  write.on("data", (c: Buffer) => chunks.push(c))
  const done = new Promise<Buffer>((resolve, reject) => {
    write.on("end", () => resolve(Buffer.concat(chunks)))
    write.on("error", reject)
  })
  return { write, done }
}

describe("image locations: archives as streams", () => {
  let dir: string
  let engine: Engine
  let digest: string
  let archive: string
  beforeAll(async () => {
    dir = tempDir()
    const img = buildLayout(join(dir, "src"), "bb:1.0", [busyboxLayer, { files: { "etc/motd": "streamed\n" } }])
    digest = img.manifestDigest
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage({ kind: "oci", path: join(dir, "src"), ref: "bb:1.0" })
    archive = join(dir, "bb.oci.tar")
    await engine.exportImage("bb:1.0", { kind: "oci-archive", path: archive })
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("parses the strings the CLI takes and names locations as they are written", () => {
    expect(parseLocation("oci-archive:/tmp/a.tar:app:1")).toEqual({ kind: "oci-archive", path: "/tmp/a.tar", ref: "app:1" })
    const samples: ImageLocation[] = [
      { kind: "oci", path: "/l", ref: "t" },
      { kind: "docker", ref: "127.0.0.1:5000/a:b" },
      { kind: "local", image: "a:1" },
      { kind: "docker-archive", read: Readable.from([]), label: "stdin" },
      { kind: "oci-archive", write: new PassThrough() }
    ]
    expect(samples.map(locationName)).toEqual(["oci:/l:t", "docker://127.0.0.1:5000/a:b", "local:a:1", "docker-archive:stdin", "oci-archive:<stream>"])
  })

  it("imports from a stream and exports into one, byte for byte what the file export writes", async () => {
    const other = await Engine.open({ root: join(dir, "root-in") })
    const img = await other.importImage({ kind: "oci-archive", read: createReadStream(archive), label: "upload" }, "streamed:1")
    expect(img).toMatchObject({ name: "streamed:1", digest })
    expect((await other.inspectImage("streamed:1")).layers.every((l) => l.snapshot)).toBe(true)
    const out = sink()
    await other.exportImage("streamed:1", { kind: "oci-archive", write: out.write, ref: "bb:1.0" })
    // archives are deterministic: the streamed export is the file export
    expect((await out.done).equals(readFileSync(archive))).toBe(true)
    await other.close()
  })

  it.skipIf(!haveSkopeo)("copies from a stream into a stream without naming anything in the store", async () => {
    const before = (await engine.listImages()).map((i) => i.digest)
    const out = sink()
    await engine.copy({ kind: "oci-archive", read: createReadStream(archive) }, { kind: "docker-archive", write: out.write, ref: "copied:2" })
    const file = join(dir, "copied.docker.tar")
    writeFileSync(file, await out.done)
    const r = spawnSync("skopeo", ["inspect", "--raw", `docker-archive:${file}`], { encoding: "utf8" })
    expect(r.status, r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as { layers: unknown[] }).layers).toHaveLength(2)
    expect((await engine.listImages()).map((i) => i.digest)).toEqual(before)
  })

  it("unpacks straight from a stream", async () => {
    const target = join(dir, "flat")
    await engine.unpack({ kind: "oci-archive", read: createReadStream(archive) }, target)
    expect(readFileSync(join(target, "etc", "motd"), "utf8")).toBe("streamed\n")
  })

  it("stores no image and no staged bytes from a stream cut short", async () => {
    const other = await Engine.open({ root: join(dir, "root-cut") })
    const bytes = readFileSync(archive)
    const cut = Readable.from([bytes.subarray(0, Math.floor(bytes.length * 0.6))])
    await expect(other.importImage({ kind: "oci-archive", read: cut, label: "the cut upload" }, "cut:1")).rejects.toThrow(/the cut upload|archive|tar|unexpected end/i)
    expect(await other.listImages()).toEqual([])
    const ingest = await readdir(join(dir, "root-cut", "ingest")).catch(() => [])
    expect(ingest).toEqual([])
    // and a stream that fails outright does the same, even before the import reaches it (an
    // error with no listener yet would be an uncaught exception)
    const failing = new Readable({ read() {} })
    failing.push(bytes.subarray(0, 4096))
    const importing = other.importImage({ kind: "oci-archive", read: failing }, "cut:2")
    failing.destroy(new Error("connection reset by the test"))
    await expect(importing).rejects.toThrow(/connection reset by the test/)
    expect(await other.listImages()).toEqual([])
    await other.close()
  })

  it("refuses a reader as a destination and a writer as a source, naming the location", async () => {
    await expect(engine.exportImage("bb:1.0", { kind: "oci-archive", read: Readable.from([]) } as never)).rejects.toMatchObject({ _tag: "InvalidSourceError" })
    await expect(engine.importImage({ kind: "docker", ref: "127.0.0.1:1/x:y" })).rejects.toMatchObject({ _tag: "InvalidSourceError" })
  })
})
