// A disk that fills up in the middle of a put: the put fails with the write's own error (ENOSPC),
// the process does not crash on a write that failed while others were in flight, and nothing is
// left under the digest. Root only (a small tmpfs is mounted for it).
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Digest } from "@cairn/digest"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Store } from "../src/index.js"

const root = process.getuid?.() === 0
if (!root) console.warn("skipping the disk-full test: mounting a tmpfs needs root")
const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}` as Digest

describe.skipIf(!root)("a put onto a full disk", () => {
  const mnt = mkdtempSync(join(tmpdir(), "cairn-diskfull-"))
  beforeAll(() => {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "cairn-diskfull", mnt])
  })
  afterAll(() => {
    execFileSync("umount", [mnt])
    rmSync(mnt, { recursive: true, force: true })
  })

  for (const [what, size] of [
    ["a small blob, hashed on the calling thread", 6 << 20],
    ["a big blob, hashed on a worker", 20 << 20]
  ] as const) {
    it(`fails with ENOSPC and keeps nothing: ${what}`, async () => {
      const dir = join(mnt, `layout-${size}`)
      const store = await Store.open(dir)
      const data = randomBytes(size)
      const desc = { digest: sha(data), size }
      // network-sized pieces, so several writes are in flight when the disk fills
      const pieces = Array.from({ length: Math.ceil(size / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536))
      const e = await store.put(desc, pieces).catch((x) => x)
      expect(e?.code).toBe("ENOSPC")
      expect(await store.has(desc.digest)).toBe(false)
      expect(readdirSync(join(dir, "blobs", "sha256"))).toEqual([])
      // the space is given back: a blob that fits goes in
      const small = randomBytes(1000)
      expect((await store.put({ digest: sha(small), size: small.length }, [small])).created).toBe(true)
    })
  }
})
