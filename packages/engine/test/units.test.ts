import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import type { Digest } from "@cairn/digest"
import { dirname, join } from "node:path"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { defaultRoot, Engine, normalizeName, parseLocation, resolveUser, runtimeSpec } from "../src/index.js"
import { MAX_USER_DB_BYTES } from "../src/runtimeSpec.js"
import { ensureSnapshot } from "../src/snapshots.js"
import { buildLayout, busyboxLayer, tempDir } from "./fixtures.js"

describe("names, transports and the default root", () => {
  it("normalizes local names with the default tag", () => {
    expect(normalizeName("busybox")).toBe("busybox:latest")
    expect(normalizeName("my/app:1.0")).toBe("my/app:1.0")
    expect(normalizeName("127.0.0.1:5000/library/debian")).toBe("127.0.0.1:5000/library/debian:latest")
    expect(() => normalizeName("Upper")).toThrow(/invalid reference/)
    expect(() => normalizeName("a:.bad")).toThrow(/tag/)
  })

  it("parses transports as skopeo spells them (PATH:REF split at the first colon)", () => {
    expect(parseLocation("oci:/tmp/x:busybox:1")).toEqual({ kind: "oci", path: "/tmp/x", ref: "busybox:1" })
    expect(parseLocation("oci:/tmp/x")).toEqual({ kind: "oci", path: "/tmp/x" })
    expect(parseLocation("oci-archive:/tmp/a.tar")).toEqual({ kind: "oci-archive", path: "/tmp/a.tar" })
    expect(parseLocation("docker-archive:/tmp/d.tar:bb:2")).toEqual({ kind: "docker-archive", path: "/tmp/d.tar", ref: "bb:2" })
    expect(parseLocation("docker://127.0.0.1:5000/a/b:c")).toEqual({ kind: "docker", ref: "127.0.0.1:5000/a/b:c" })
    expect(parseLocation("local:bb:1")).toEqual({ kind: "local", image: "bb:1" })
    expect(() => parseLocation("/tmp/x")).toThrow(/transport/)
    expect(() => parseLocation("oci:")).toThrow(/needs a path/)
  })

  it("resolves the default root: CAIRN_ROOT, else /var/lib/cairn for root, else XDG_DATA_HOME", () => {
    expect(defaultRoot({ CAIRN_ROOT: "/srv/cairn" })).toBe("/srv/cairn")
    expect(defaultRoot({})).toBe(process.getuid?.() === 0 ? "/var/lib/cairn" : expect.stringContaining("cairn"))
  })
})

describe("users of a bundle", () => {
  let rootfs: string
  beforeAll(() => {
    rootfs = tempDir()
    mkdirSync(join(rootfs, "etc"))
    writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\napp:x:1001:\nstaff:x:50:\n")
  })
  afterAll(() => rmSync(rootfs, { recursive: true, force: true }))

  it("resolves user and group names from the image's passwd and group files", async () => {
    expect(await resolveUser(rootfs, "")).toEqual({ uid: 0, gid: 0 })
    expect(await resolveUser(rootfs, "app")).toEqual({ uid: 1000, gid: 1001 })
    expect(await resolveUser(rootfs, "app:staff")).toEqual({ uid: 1000, gid: 50 })
    expect(await resolveUser(rootfs, "1000")).toEqual({ uid: 1000, gid: 1001 })
    expect(await resolveUser(rootfs, "4242:7")).toEqual({ uid: 4242, gid: 7 })
    await expect(resolveUser(rootfs, "ghost")).rejects.toMatchObject({ _tag: "UnsupportedImageError" })
  })

  it("refuses malformed user specs and ids outside 0..2^32-2 instead of falling back to root", async () => {
    for (const spec of ["root:root:extra", ":staff", "app:", "99999999999:0", "0:4294967295", "18446744073709551617"]) {
      await expect(resolveUser(rootfs, spec), spec).rejects.toMatchObject({ _tag: "UnsupportedImageError", message: expect.stringContaining(JSON.stringify(spec)) })
    }
    const odd = tempDir()
    mkdirSync(join(odd, "etc"))
    writeFileSync(join(odd, "etc", "passwd"), "neg:x:-1:-1::/:/bin/sh\nbig:x:4294967296:0::/:/bin/sh\nsp ace:x:7:8::/:/bin/sh\n")
    writeFileSync(join(odd, "etc", "group"), "neg:x:-5:\n")
    await expect(resolveUser(odd, "neg")).rejects.toMatchObject({ _tag: "UnsupportedImageError", message: expect.stringContaining("no valid uid") })
    await expect(resolveUser(odd, "big")).rejects.toMatchObject({ _tag: "UnsupportedImageError" })
    await expect(resolveUser(odd, "7:neg")).rejects.toMatchObject({ _tag: "UnsupportedImageError", message: expect.stringContaining("no valid gid") })
    expect(await resolveUser(odd, "sp ace")).toEqual({ uid: 7, gid: 8 })
    rmSync(odd, { recursive: true, force: true })
  })
})

describe("a hostile rootfs' /etc/passwd and /etc/group (bundle)", () => {
  let dir: string
  let outside: string
  beforeAll(() => {
    dir = tempDir()
    // a file outside the rootfs that a symlink in the image points at by its host path
    outside = join(dir, "host-secret")
    writeFileSync(outside, "root:x:0:0::/:/bin/sh\nsecret:x:20228:31337::/:/bin/sh\n")
    writeFileSync(join(dir, "host-group"), "secret:x:31337:\n")
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const rootfsWith = (name: string, make: (etc: string) => void) => {
    const r = join(dir, name)
    mkdirSync(join(r, "etc"), { recursive: true })
    make(join(r, "etc"))
    return r
  }

  it("resolves an absolute symlink inside the rootfs, never on the host", async () => {
    const r = rootfsWith("abs", (etc) => {
      symlinkSync(outside, join(etc, "passwd"))
      symlinkSync(join(dir, "host-group"), join(etc, "group"))
    })
    // before: the host file was read and "secret" resolved to the host's 20228:31337
    await expect(resolveUser(r, "secret")).rejects.toMatchObject({ _tag: "UnsupportedImageError", message: expect.stringContaining("not in the image's /etc/passwd") })
    await expect(resolveUser(r, "0:secret")).rejects.toMatchObject({ _tag: "UnsupportedImageError" })
    // the same link target, when it exists inside the rootfs, is what is read
    mkdirSync(join(r, dirname(outside)), { recursive: true })
    writeFileSync(join(r, outside), "inside:x:5:6::/:/bin/sh\n")
    expect(await resolveUser(r, "inside")).toEqual({ uid: 5, gid: 6 })
  })

  it("keeps a relative ../../ symlink inside the rootfs, and /etc/shadow is not the host's", async () => {
    const r = rootfsWith("rel", (etc) => symlinkSync("../../../../../../../../etc/shadow", join(etc, "passwd")))
    await expect(resolveUser(r, "root")).rejects.toMatchObject({ message: expect.stringContaining("not in the image's /etc/passwd") })
    expect(await resolveUser(r, "12")).toEqual({ uid: 12, gid: 0 })
  })

  it("refuses a FIFO /etc/passwd without blocking", async () => {
    const r = rootfsWith("fifo", (etc) => execFileSync("mkfifo", [join(etc, "passwd")]))
    await expect(resolveUser(r, "root")).rejects.toMatchObject({ _tag: "UnsupportedImageError", message: expect.stringMatching(/\/etc\/passwd is not a regular file \(a FIFO\)/) })
  })

  it("refuses /etc/group -> /dev/zero (a device inside the rootfs) and never reads the host's", async () => {
    const r = rootfsWith("zero", (etc) => {
      writeFileSync(join(etc, "passwd"), "root:x:0:0::/:/bin/sh\n")
      symlinkSync("/dev/zero", join(etc, "group"))
    })
    // /dev/zero does not exist in this rootfs: the group file is absent
    await expect(resolveUser(r, "root:wheel")).rejects.toMatchObject({ message: expect.stringContaining("not in the image's /etc/group") })
    if (process.getuid?.() === 0) {
      mkdirSync(join(r, "dev"))
      execFileSync("mknod", [join(r, "dev", "zero"), "c", "1", "5"])
      await expect(resolveUser(r, "root:wheel")).rejects.toMatchObject({ message: expect.stringContaining("/etc/group is not a regular file (a character device)") })
    } else console.log("skipped the device node case: mknod needs root")
  })

  it("refuses an over-size /etc/passwd, naming it", async () => {
    const r = rootfsWith("big", (etc) => writeFileSync(join(etc, "passwd"), Buffer.alloc(MAX_USER_DB_BYTES + 1, 0x61)))
    await expect(resolveUser(r, "root")).rejects.toMatchObject({ message: expect.stringMatching(/\/etc\/passwd is 4194305 bytes, more than/) })
  })

  it("makes a relative WorkingDir absolute from /", async () => {
    const r = rootfsWith("cwd", () => {})
    const spec = (await runtimeSpec({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: { WorkingDir: "app/../srv/x" } } as never, r)) as { process: { cwd: string } }
    expect(spec.process.cwd).toBe("/srv/x")
  })
})

describe("history with empty layers", () => {
  let dir: string
  let engine: Engine
  beforeAll(async () => {
    dir = tempDir()
    buildLayout(join(dir, "src"), "h", [busyboxLayer, { files: { a: "a\n" } }], {}, [
      { created_by: "ADD busybox" },
      { created_by: "ENV A=1", empty_layer: true },
      { created_by: "COPY a" },
      { created_by: 'CMD ["sh"]', empty_layer: true }
    ])
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "src")}:h`)
  })
  afterAll(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("lists every history entry newest first, empty ones without a layer", async () => {
    const rows = await engine.history("h")
    const layers = (await engine.inspectImage("h")).layers
    expect(rows.map((r) => [r.createdBy, r.emptyLayer, r.layer])).toEqual([
      ['CMD ["sh"]', true, undefined],
      ["COPY a", false, layers[1]!.digest],
      ["ENV A=1", true, undefined],
      ["ADD busybox", false, layers[0]!.digest]
    ])
    expect(rows[1]!.size).toBe(layers[1]!.size)
  })
})

describe("images without a name", () => {
  it("are listed without names, found by digest, and removed again", async () => {
    const dir = tempDir()
    try {
      const built = buildLayout(join(dir, "src"), "x", [{ files: { a: "a\n" } }])
      const indexPath = join(dir, "src", "index.json")
      const index = JSON.parse(readFileSync(indexPath, "utf8"))
      delete index.manifests[0].annotations
      writeFileSync(indexPath, JSON.stringify(index))
      const engine = await Engine.open({ root: join(dir, "root") })
      const img = await engine.importImage(`oci:${join(dir, "src")}`)
      expect(img.name).toBeUndefined()
      expect((await engine.listImages()).map((i) => [i.digest, i.names])).toEqual([[built.manifestDigest, []]])
      await engine.tag(built.manifestDigest, "named")
      expect((await engine.listImages()).map((i) => i.names)).toEqual([["named:latest"]])
      await engine.untag("named")
      expect(await engine.listImages()).toEqual([])
      const again = await engine.importImage(`oci:${join(dir, "src")}`)
      const removed = await engine.removeImage(again.digest.slice(7, 20))
      expect(removed.deleted[0]).toBe(built.manifestDigest)
      // issue #16: the manifest digest was listed again among what prune reclaimed
      expect(removed.deleted.length).toBeGreaterThan(1)
      expect(new Set(removed.deleted).size).toBe(removed.deleted.length)
      expect(await engine.listImages()).toEqual([])
      expect((await engine.df()).snapshots).toEqual([])
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("racing extractions of one chainID", () => {
  it("lets the loser discard its copy when another process renamed its snapshot in first", async () => {
    const dir = tempDir()
    try {
      const built = buildLayout(join(dir, "src"), "r", [{ files: { a: "ours\n" } }])
      const engine = await Engine.open({ root: join(dir, "root") })
      const ctx = engine.service.context
      const chain = built.diffIds[0]!.slice(7)
      const layers = [{ digest: built.layerDigests[0] as Digest, size: 0, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }]
      const blob = readFileSync(join(dir, "src", "blobs", "sha256", built.layerDigests[0]!.slice(7)))
      layers[0]!.size = blob.length
      await ctx.store.put(layers[0]!, blob)
      const racing = {
        ...ctx,
        extract: async (...args: Parameters<typeof ctx.extract>) => {
          const extracted = await ctx.extract(...args)
          // the other process finishes first: a complete snapshot appears under the final name
          mkdirSync(join(dir, "root", "snapshots", chain, "fs"), { recursive: true })
          writeFileSync(join(dir, "root", "snapshots", chain, "fs", "a"), "theirs\n")
          writeFileSync(join(dir, "root", "snapshots", chain, "meta.json"), JSON.stringify({ chainId: built.diffIds[0], diffId: built.diffIds[0] }))
          return extracted
        }
      }
      expect(await Effect.runPromise(ensureSnapshot(racing, layers, [built.diffIds[0] as Digest], 0))).toBe(false)
      expect(readFileSync(join(dir, "root", "snapshots", chain, "fs", "a"), "utf8")).toBe("theirs\n")
      expect(readdirSync(join(dir, "root", "snapshots"))).toEqual([chain])
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
