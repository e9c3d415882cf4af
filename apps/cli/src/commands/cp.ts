// `cairn cp` (docker/podman cp): files out of a container or an image, and into a container.
import { command } from "../command.js"
import { UsageError } from "../errors.js"

/** `NAME:PATH` (a container or image and a path in it) or a host path; `-` is stdin/stdout. */
const split = (arg: string): { ref: string; path: string } | undefined => {
  if (arg.startsWith("/") || arg.startsWith(".") || arg === "-") return undefined
  const at = arg.search(/:\//)
  return at > 0 ? { ref: arg.slice(0, at), path: arg.slice(at + 1) } : undefined
}

export const cp = command({
  name: "cp",
  summary: "Copy files out of a container or an image, or into a container (like docker cp)",
  usage: "CONTAINER|IMAGE:SRC_PATH DEST_PATH|-  |  SRC_PATH|- CONTAINER:DEST_PATH",
  description:
    "Docker's rules: into an existing directory under the source's name, else as DEST_PATH; SRC_PATH ending in /. copies a\n" +
    "directory's contents. Out of a container or image, DEST_PATH - writes a tar of SRC_PATH to stdout. Into a container,\n" +
    "the path is resolved inside the container (its symlinks cannot lead outside), and a container that was not mounted\n" +
    "is mounted for the copy and unmounted after; `cairn diff` then shows the change. A symlinked parent directory is\n" +
    "followed inside the tree (/bin -> usr/bin), never on the host; a path that is itself a link is copied as the link.\n" +
    "SRC_PATH - reads a tar from stdin and unpacks it into the directory DEST_PATH (owners and modes kept; members with\n" +
    "'..' or an absolute path are refused by GNU tar); nothing reaches the container unless the whole tar unpacked.",
  examples: [
    "cairn cp web:/etc/motd ./motd",
    "cairn cp busybox:1:/bin ./bin-copy",
    "cairn cp ./app.conf web:/etc/",
    "cairn cp web:/var/log - | tar -t",
    "tar -C ./site -c . | cairn cp - web:/srv/www"
  ],
  args: { min: 2, max: 2 },
  async run(ctx, [src, dest]) {
    const from = split(src!)
    const to = split(dest!)
    if ((from === undefined) === (to === undefined)) throw new UsageError("exactly one of SRC and DEST is CONTAINER:PATH (or IMAGE:PATH for SRC), with an absolute PATH", "cp")
    const engine = await ctx.engine()
    if (from !== undefined) {
      if (dest === "-") {
        if (ctx.out.tty) throw new UsageError("refusing to write a tar to a terminal: redirect stdout", "cp")
        await engine.copyFrom(from.ref, from.path, ctx.out.out)
        return
      }
      await engine.copyFrom(from.ref, from.path, dest!)
      return
    }
    if (src === "-") {
      if (process.stdin.isTTY) throw new UsageError("refusing to read a tar from a terminal: pipe one into stdin", "cp")
      await engine.copyTo(to!.ref, process.stdin, to!.path)
      return
    }
    await engine.copyTo(to!.ref, src!, to!.path)
  }
})
