// `cairn cp`: files out of an image or a container (as docker/podman cp), and from the host into a
// container. Out: the merged filesystem's tar (exportFs) narrowed to the path by GNU tar into a
// private sibling of the destination, then renamed in, so a failure leaves nothing. In: through
// the container's mount (made for the copy and removed after when it was not mounted), the
// destination resolved inside the container's root with symlinks evaluated as if it were "/"
// (overlay's RootPath), so nothing outside the container can be reached.
import { spawn } from "node:child_process"
import { lstat, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, dirname, join, posix, resolve } from "node:path"
import { PassThrough, type Readable, type Writable } from "node:stream"
import { cleanComponents, RootPath } from "@cairn/overlay"
import * as Effect from "effect/Effect"
import { attempt } from "./attempt.js"
import { findContainer, mountContainer, unmountContainer } from "./containers.js"
import type { EngineContext } from "./context.js"
import type { EngineError } from "./engineError.js"
import { EngineIOError, PathNotFoundInImageError } from "./errors.js"
import { exportFs, realPath } from "./view.js"

/** Runs a tool, feeding `input` (if any) to its stdin; rejects with its stderr on a non-zero exit. */
function tool(cmd: string, args: string[], stdout?: Writable): { stdin: Writable; done: Promise<void> } {
  const child = spawn(cmd, args, { stdio: ["pipe", stdout === undefined ? "ignore" : "pipe", "pipe"] })
  let err = ""
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d))
  if (stdout !== undefined) child.stdout?.pipe(stdout, { end: false })
  const done = new Promise<void>((res, rej) => {
    child.on("error", rej)
    child.on("close", (code) => (code === 0 ? res() : rej(new Error(err.trim() || `${cmd} exited with ${code}`))))
  })
  return { stdin: child.stdin as Writable, done }
}

/** `etc/motd` for `/etc/motd`, `` for `/`; and whether the path asks for a directory's contents (`dir/.`). */
function member(path: string): { name: string; contents: boolean } {
  const contents = /(^|\/)\.$/.test(path)
  const name = posix.normalize(`/${path}`).replace(/^\/+/, "").replace(/\/+$/, "")
  return { name: name === "." ? "" : name, contents }
}

/**
 * Copies `path` of an image or container to `dest`: a directory or file on the host (docker's
 * rules: into an existing directory under the source's name, else as `dest`; `path/.` copies the
 * directory's contents), or a Writable that gets a tar of it. Symlinks are copied as links.
 */
export async function copyFrom(ctx: EngineContext, what: string, path: string, dest: string | Writable): Promise<void> {
  const { name: asked, contents } = member(path)
  const target = typeof dest === "string" ? resolve(dest) : undefined
  const work = await mkdtemp(join(target === undefined ? tmpdir() : dirname(target), ".cairn-cp-"))
  try {
    /** GNU tar takes `name` out of the tree's tar into `work`; false when the tar has no such member. */
    const extract = async (name: string): Promise<boolean> => {
      const tar = new PassThrough()
      const x = tool("tar", ["-x", "-C", work, "-f", "-", ...(name === "" ? [] : ["--", name])])
      tar.pipe(x.stdin)
      return Promise.all([exportFs(ctx, what, tar), x.done]).then(
        () => true,
        (e: unknown) => {
          if (/Not found in archive/.test((e as Error).message)) return false
          throw e
        }
      )
    }
    let name = asked
    if (!(await extract(name))) {
      // a parent directory may be a symlink in the tree (/bin -> usr/bin): follow it there, as docker does
      const real = await realPath(ctx, what, name)
      if (real === undefined || real === name || !(await extract(real))) throw new PathNotFoundInImageError({ image: what, path: `/${asked}` })
      name = real
    }
    const got = join(work, name)
    if (target === undefined) {
      // a tar of the entry (or of the directory's contents) to the stream
      const base = contents || name === "" ? got : dirname(got)
      const args = contents || name === "" ? ["-C", base, "-c", "."] : ["-C", base, "-c", basename(got)]
      const out = tool("tar", args, dest as Writable)
      out.stdin.end()
      await out.done
      return
    }
    const existing = await stat(target).catch(() => undefined)
    const srcIsDir = (await lstat(got)).isDirectory()
    if (contents || name === "") {
      if (existing !== undefined && !existing.isDirectory()) throw new EngineIOError({ operation: "cp", path: target, cause: new Error("cannot copy a directory's contents onto a file") })
      if (existing === undefined) await rename(got, target)
      else for (const e of await readdir(got)) await rm(join(target, e), { recursive: true, force: true }).then(() => rename(join(got, e), join(target, e)))
      return
    }
    if (existing?.isDirectory()) {
      const into = join(target, basename(got))
      await rm(into, { recursive: true, force: true })
      await rename(got, into)
      return
    }
    if (existing !== undefined && srcIsDir) throw new EngineIOError({ operation: "cp", path: target, cause: new Error("cannot overwrite a file with a directory") })
    await rename(got, target)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/**
 * Copies the host's `src` into `container` at `path` (docker's rules as above), through its
 * mount; a container that was not mounted is mounted for the copy and unmounted after. A stream
 * `src` is a tar whose entries go into the directory `path` (`docker cp - CONTAINER:DIR`): GNU tar
 * unpacks it into a private directory beside the container's state first (no `..` or absolute
 * member, no write through a link it made), and nothing reaches the container unless all of it did.
 */
export const copyTo = (ctx: EngineContext, container: string, src: string | Readable, path: string): Effect.Effect<void, EngineError> =>
  Effect.gen(function*() {
    const meta = yield* findContainer(ctx, container)
    if (typeof src !== "string") {
      const staging = ctx.layout.container(meta.id)
      return yield* Effect.acquireUseRelease(
        attempt("make a staging dir in", staging, () => mkdtemp(join(staging, ".cp-in-"))),
        (work) => Effect.andThen(attempt("cp", "a tar from stdin", () => untar(src, work)), copyTo(ctx, container, `${work}/.`, path)),
        (work) => Effect.promise(() => rm(work, { recursive: true, force: true }))
      )
    }
    const source = resolve(src.replace(/\/\.$/, ""))
    const srcStat = yield* Effect.promise(() => lstat(source).catch(() => undefined))
    if (srcStat === undefined) return yield* new EngineIOError({ operation: "cp", path: src, cause: new Error("no such file or directory on the host") })
    // through the container's mount: one made for the copy is undone after it, however it ends (an
    // unmount that fails leaves the container recorded as mounted: `cairn ps` shows it, `cairn umount` ends it)
    const merged = yield* Effect.acquireRelease(mountContainer(ctx, meta.id), () =>
      meta.mounted !== undefined ? Effect.void : Effect.ignore(unmountContainer(ctx, meta.id))
    )
    yield* attempt("cp", path, () => copyInto(merged, source, srcStat.isDirectory(), /(^|\/)\.$/.test(src), path, container))
  }).pipe(Effect.scoped)

/** GNU tar unpacks the stream into `work`; fails with the stream's or tar's error. */
async function untar(src: Readable, work: string): Promise<void> {
  const x = tool("tar", ["-x", "-C", work, "-f", "-"])
  src.on("error", (e) => x.stdin.destroy(e))
  src.pipe(x.stdin)
  await x.done.catch((e: unknown) => {
    throw new EngineIOError({ operation: "cp", path: "a tar from stdin", cause: e })
  })
}

/** `source` (a directory, or with `contents` the directory's entries) to `path` inside the container's root at `merged`. */
async function copyInto(merged: string, source: string, srcIsDir: boolean, contents: boolean, path: string, container: string): Promise<void> {
  const root = new RootPath(merged)
  const inside = root.resolve(cleanComponents(Buffer.from(path)), true, path)
  const dest = root.abs(inside).toString()
  const existing = await stat(dest).catch(() => undefined)
  // always -T onto one named path, replacing what is there (--remove-destination unlinks a
  // symlink instead of writing through it: a link in the container may point anywhere on the host)
  let args: string[]
  if (existing?.isDirectory()) args = ["-T", source, contents ? dest : join(dest, basename(source))]
  else {
    if (contents) throw new EngineIOError({ operation: "cp", path, cause: new Error(`${path} in ${container} is not a directory`) })
    const parent = await stat(dirname(dest)).catch(() => undefined)
    if (!parent?.isDirectory()) throw new EngineIOError({ operation: "cp", path, cause: new Error(`the parent of ${path} does not exist in ${container}`) })
    if (existing !== undefined && srcIsDir) throw new EngineIOError({ operation: "cp", path, cause: new Error("cannot overwrite a file with a directory") })
    args = ["-T", source, dest]
  }
  const cp = tool("cp", ["-a", "--no-dereference", "--remove-destination", ...args])
  cp.stdin.end()
  await cp.done
}
