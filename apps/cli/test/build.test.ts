// `cairn build`: podman-like STEP output, cache hits marked, -q prints only the id, errors with line numbers.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { e2eSkipReason, have, makeBusyboxLayout } from "./fixtures.js"
import { cairn } from "./run.js"

const skip = e2eSkipReason() ?? (have("crun") ? undefined : "needs crun (Debian package crun)")
if (skip !== undefined) console.warn(`skipping cairn build: ${skip}`)

describe.skipIf(skip !== undefined)("cairn build", () => {
  let work: string
  let root: string
  let ctx: string
  const r = (...args: string[]) => cairn("--root", root, ...args)
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "cairn-cli-build-"))
    root = join(work, "root")
    const layout = makeBusyboxLayout(join(work, "layout"), work)
    expect((await r("import", `oci:${layout}`, "busybox")).code).toBe(0)
    ctx = join(work, "ctx")
    mkdirSync(ctx)
    writeFileSync(join(ctx, "Dockerfile"), "FROM busybox\nARG WHO\nCOPY hello.txt /hello.txt\nRUN echo \"ran for $WHO\"\nCMD [\"cat\", \"/hello.txt\"]\n")
    writeFileSync(join(ctx, "hello.txt"), "hello\n")
  })
  afterAll(() => rmSync(work, { recursive: true, force: true }))

  it("prints each STEP and the RUN output, then the image id; a rebuild marks the cache hits", async () => {
    const first = await r("build", "-t", "hello:1", "--build-arg", "WHO=cli", ctx)
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^STEP 1\/5: FROM busybox\nSTEP 2\/5: ARG WHO\nSTEP 3\/5: COPY hello.txt \/hello.txt\n--> [0-9a-f]{12}\nSTEP 4\/5: RUN echo "ran for \$WHO"\nran for cli\n/)
    expect(first.stdout).toMatch(/COMMIT hello:1\n--> [0-9a-f]{12}\n[0-9a-f]{64}\n$/)
    const again = await r("build", "-t", "hello:1", "--build-arg", "WHO=cli", ctx)
    expect(again.stdout.match(/--> Using cache [0-9a-f]{64}/g)?.length).toBe(2)
    expect(again.stdout).not.toContain("ran for cli")
    expect(again.stdout.trim().split("\n").at(-1)).toBe(first.stdout.trim().split("\n").at(-1))
    expect((await r("cat", "hello:1", "/hello.txt")).stdout).toBe("hello\n")
  })

  it("-q prints only the id; a failing step exits 1 naming its line", async () => {
    const q = await r("-q", "build", "--no-cache", "--build-arg", "WHO=q", ctx)
    expect(q.stdout).toMatch(/^[0-9a-f]{64}\n$/)
    writeFileSync(join(ctx, "Dockerfile"), "FROM busybox\n\nRUN exit 4\n")
    const bad = await r("build", ctx)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("Dockerfile:3: step 2/2 `RUN exit 4` failed: the command exited with code 4")
    expect((await r("ps", "-q")).stdout).toBe("")
  })
})
