// The `build` group: `cairn build` vs `buildah bud` (the peer) on one Containerfile that copies
// 10,000 files and runs three RUN steps, over the same busybox base; cold (fresh storage, no
// cache) and fully cached (the same build again). Both are timed as the commands a user runs.
// Run alone: `node src/build.mjs` (root, buildah and crun needed); `CAIRN_BENCH_ONLY=build` in bench.mjs.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { randomBytes } from "node:crypto"
import { copyFile, mkdir, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { benchDir } from "./corpus.mjs"
import { median } from "./measure.mjs"

const has = (/** @type {string} */ bin) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0
const cairnBin = join(benchDir, "..", "apps", "cli", "bin", "cairn.js")

export const CONTAINERFILE = [
  "FROM localhost/base:latest",
  "COPY files /files",
  "RUN find /files -type f | wc -l > /count",
  "RUN cat /files/d00/f00000.txt > /first && echo two > /two",
  "RUN rm -rf /files/d01 && echo three > /three",
  ""
].join("\n")

/** Why the group cannot run here, or undefined. */
export function buildUnavailable() {
  if (process.getuid?.() !== 0) return "needs root (kernel overlay mounts, crun)"
  for (const [bin, pkg] of [["buildah", "buildah"], ["crun", "crun"], ["busybox", "busybox-static"]]) if (!has(bin)) return `${bin} is not installed (Debian package ${pkg})`
  if (!existsSync(join(benchDir, "..", "apps", "cli", "dist", "main.js"))) return "the CLI is not built (npm run build)"
  return undefined
}

/** 10,000 files of 0.5-1.5 KiB of pseudo-random text in 100 dirs, and the Containerfile. */
async function makeContext(dir, files) {
  let s = 42
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32)
  for (let d = 0; d < 100; d++) await mkdir(join(dir, "files", `d${String(d).padStart(2, "0")}`), { recursive: true })
  for (let i = 0; i < files; i++) {
    const n = 512 + Math.floor(rand() * 1024)
    let text = ""
    while (text.length < n) text += rand().toString(36).slice(2)
    await writeFile(join(dir, "files", `d${String(i % 100).padStart(2, "0")}`, `f${String(i).padStart(5, "0")}.txt`), text.slice(0, n))
  }
  await writeFile(join(dir, "Containerfile"), CONTAINERFILE)
}

/** The busybox base as an OCI layout (made with buildah from /bin/busybox), tag `base`. */
async function makeBase(work, bh) {
  const ctx = join(work, "base-ctx")
  await mkdir(join(ctx, "rootfs", "bin"), { recursive: true })
  await copyFile("/bin/busybox", join(ctx, "rootfs", "bin", "busybox"))
  for (const t of ["sh", "find", "wc", "cat", "rm", "echo"]) await symlink("busybox", join(ctx, "rootfs", "bin", t))
  for (const d of ["tmp", "proc", "sys", "dev", "etc"]) await mkdir(join(ctx, "rootfs", d), { recursive: true })
  await writeFile(join(ctx, "rootfs", "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n")
  await writeFile(join(ctx, "Containerfile"), "FROM scratch\nCOPY rootfs /\n")
  execFileSync("buildah", [...bh, "bud", "-q", "--isolation", "chroot", "-t", "localhost/base:latest", ctx], { stdio: "ignore" })
  execFileSync("buildah", [...bh, "push", "-q", "localhost/base:latest", `oci:${join(work, "base-oci")}:base`], { stdio: "ignore" })
  return join(work, "base-oci")
}

const seconds = (/** @type {() => void} */ f) => {
  const t = process.hrtime.bigint()
  f()
  return Number(process.hrtime.bigint() - t) / 1e9
}

/** @param {{ quick?: boolean, runs?: number, files?: number, log?: (m: string) => void }} o */
export async function buildBench(o = {}) {
  const skip = buildUnavailable()
  if (skip) return { skip }
  const runs = o.runs ?? (o.quick ? 1 : 3)
  const files = o.files ?? (o.quick ? 1000 : 10000)
  const log = o.log ?? (() => {})
  // lowercase: buildah reads an oci: path as a reference name
  const work = join(tmpdir(), `cairn-bench-build-${randomBytes(6).toString("hex")}`)
  await mkdir(work)
  try {
    const driver = process.env.CAIRN_BENCH_BUILDAH_DRIVER ?? "overlay"
    const bhArgs = (root) => ["--root", join(root, "storage"), "--runroot", join(root, "run"), "--storage-driver", driver]
    const baseRoot = join(work, "bh-base")
    const base = await makeBase(work, bhArgs(baseRoot))
    const ctx = join(work, "ctx")
    await makeContext(ctx, files)
    log(`build: context of ${files} files ready; ${runs} run(s) per contender`)
    const rows = { cairn: { cold: [], cached: [] }, buildah: { cold: [], cached: [] } }
    for (let r = 0; r < runs; r++) {
      // cairn: a fresh root with the base imported (not timed), then build twice
      const root = join(work, `cairn-${r}`)
      execFileSync(process.execPath, [cairnBin, "--root", root, "import", `oci:${base}:base`, "localhost/base:latest"], { stdio: "ignore" })
      const cairn = () => execFileSync(process.execPath, [cairnBin, "--root", root, "-q", "build", "-t", "bench:1", ctx], { stdio: ["ignore", "pipe", "inherit"] })
      rows.cairn.cold.push(seconds(cairn))
      rows.cairn.cached.push(seconds(cairn))
      // buildah: fresh storage with the base pulled (not timed), `bud --layers` twice
      const bh = bhArgs(join(work, `bh-${r}`))
      execFileSync("buildah", [...bh, "pull", "-q", `oci:${base}:base`], { stdio: "ignore" })
      const id = execFileSync("buildah", [...bh, "images", "-q"], { encoding: "utf8" }).trim().split("\n")[0]
      execFileSync("buildah", [...bh, "tag", id, "localhost/base:latest"])
      const buildah = () => execFileSync("buildah", [...bh, "bud", "-q", "--layers", "--isolation", "chroot", "-t", "bench:1", ctx], { stdio: ["ignore", "pipe", "inherit"] })
      rows.buildah.cold.push(seconds(buildah))
      rows.buildah.cached.push(seconds(buildah))
      log(`build run ${r + 1}: cairn cold ${rows.cairn.cold[r].toFixed(2)} s, cached ${rows.cairn.cached[r].toFixed(2)} s; buildah cold ${rows.buildah.cold[r].toFixed(2)} s, cached ${rows.buildah.cached[r].toFixed(2)} s`)
      spawnSync("buildah", [...bh, "rm", "--all"], { stdio: "ignore" })
      spawnSync("umount", ["-R", join(work, `bh-${r}`, "storage", "overlay")], { stdio: "ignore" })
      await rm(root, { recursive: true, force: true })
      await rm(join(work, `bh-${r}`), { recursive: true, force: true }).catch(() => {})
    }
    const m = (xs) => median(xs)
    const out = {
      files,
      runs,
      buildahDriver: driver,
      buildahVersion: execFileSync("buildah", ["--version"], { encoding: "utf8" }).trim(),
      containerfile: CONTAINERFILE,
      cairn: { coldS: m(rows.cairn.cold), cachedS: m(rows.cairn.cached), runs: rows.cairn },
      buildah: { coldS: m(rows.buildah.cold), cachedS: m(rows.buildah.cached), runs: rows.buildah }
    }
    return { ...out, coldRatio: out.buildah.coldS / out.cairn.coldS, cachedRatio: out.buildah.cachedS / out.cairn.cachedS }
  } finally {
    spawnSync("sh", ["-c", `grep -o ' ${work}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`], { stdio: "ignore" })
    await rm(work, { recursive: true, force: true }).catch(() => {})
  }
}

/** Markdown lines of the group's table. */
export function buildMarkdown(b) {
  if (!b || b.skip) return [`Skipped: ${b?.skip ?? "not selected"}`]
  const f = (x) => x.toFixed(2)
  return [
    `${b.files} files copied, three RUN steps; median of ${b.runs} run(s); buildah ${b.buildahVersion.replace(/^buildah version /, "")} (\`bud --layers --isolation chroot\`, ${b.buildahDriver} storage). Ratio = buildah time / cairn time (> 1: cairn faster).`,
    "",
    "| build | cairn s | buildah s | ratio | target |",
    "| --- | ---: | ---: | ---: | --- |",
    `| cold (fresh storage, no cache) | ${f(b.cairn.coldS)} | ${f(b.buildah.coldS)} | ${f(b.coldRatio)}× | ≥ 1× ${b.coldRatio >= 1 ? "met" : "NOT met"} |`,
    `| fully cached (same build again) | ${f(b.cairn.cachedS)} | ${f(b.buildah.cachedS)} | ${f(b.cachedRatio)}× | ≥ 5× ${b.cachedRatio >= 5 ? "met" : "NOT met"} |`
  ]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await buildBench({ quick: process.env.CAIRN_BENCH_QUICK === "1", ...(process.env.CAIRN_BENCH_RUNS ? { runs: Number(process.env.CAIRN_BENCH_RUNS) } : {}), log: (m) => process.stderr.write(`[bench] ${m}\n`) })
  const md = ["# cairn build vs buildah bud", "", ...buildMarkdown(r), ""].join("\n")
  const outDir = process.env.CAIRN_BENCH_OUT ?? join(benchDir, "results")
  await mkdir(outDir, { recursive: true })
  await writeFile(join(outDir, "build.md"), md)
  await writeFile(join(outDir, "build.json"), `${JSON.stringify({ finished: new Date().toISOString(), ...r }, null, 2)}\n`)
  process.stdout.write(md)
}
