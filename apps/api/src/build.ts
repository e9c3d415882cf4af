// POST /build: an image from a build context sent as a tar (`tar -C ctx -c .`), as `cairn build`
// makes it. The context is spooled (bounded by the import limit), unpacked into a temp dir that
// goes with the request, and built by Engine.build; the answer carries the image and the log.
import { execFile } from "node:child_process"
import { createWriteStream } from "node:fs"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import { pipeline } from "node:stream/promises"
import { promisify } from "node:util"
import { limitedBody } from "./body.js"
import { BuildSetupError, BuildStepError, BuildSyntaxError } from "@cairn/engine"
import { ApiError, BodyTooLargeError } from "./errors.js"
import type { JsonContext } from "./jsonApi.js"
import type { BuildResponse } from "./schemas.js"

const run = promisify(execFile)

const bad = (reason: string, detail?: unknown) => new ApiError({ status: 400, code: "BAD_REQUEST", reason, ...(detail === undefined ? {} : { detail }) })

export async function buildFromTar(ctx: JsonContext): Promise<typeof BuildResponse.Type> {
  const engine = ctx.engine
  if (typeof engine.build !== "function") throw new ApiError({ status: 501, code: "UNSUPPORTED", reason: "this engine cannot build images" })
  const q = ctx.query
  const buildArgs: Record<string, string> = {}
  for (const a of q.getAll("buildarg")) {
    const eq = a.indexOf("=")
    if (eq <= 0) throw bad(`buildarg ${a}: expected NAME=VALUE`)
    buildArgs[a.slice(0, eq)] = a.slice(eq + 1)
  }
  const ts = q.get("timestamp")
  if (ts !== null && !/^\d+$/.test(ts)) throw bad(`timestamp ${ts}: expected seconds since the epoch`)
  const network = q.get("network") ?? "none"
  if (network !== "none" && network !== "host") throw bad(`network ${network}: none or host`)
  const dir = await mkdtemp(join(tmpdir(), "cairn-api-build-"))
  try {
    const tar = join(dir, "context.tar")
    try {
      await pipeline(limitedBody(ctx.req, ctx.limits.maxImportBytes), createWriteStream(tar))
    } catch (e) {
      if (e instanceof BodyTooLargeError) throw new ApiError({ status: 413, code: "BODY_TOO_LARGE", reason: e.message, detail: { limit: e.limit } })
      throw e
    }
    const context = join(dir, "context")
    await mkdir(context)
    // GNU tar refuses member names with "..", strips a leading "/", and defers symlinks that could lead out
    await run("tar", ["-x", "-f", tar, "-C", context, "--no-same-owner", "--same-permissions"]).catch((e: Error) => {
      throw bad(`the request body is not a tar of the build context: ${e.message.split("\n").slice(-2).join(" ").trim()}`)
    })
    await rm(tar)
    let file: string | undefined
    const f = q.get("file")
    if (f !== null) {
      file = resolve(context, f)
      if (relative(context, file).startsWith("..")) throw bad(`file ${f} lies outside the build context`)
    }
    const log: Array<string> = []
    try {
      const r = await engine.build(context, {
        ...(file === undefined ? {} : { file }),
        tags: q.getAll("t"),
        buildArgs,
        ...(q.get("target") === null ? {} : { target: q.get("target")! }),
        noCache: q.get("nocache") === "1" || q.get("nocache") === "true",
        ...(ts === null ? {} : { timestamp: Number(ts) }),
        network,
        onLine: (l) => log.push(`${l}\n`),
        onOutput: (c) => log.push(c.toString("utf8"))
      })
      return { ...r, log: log.join("") }
    } catch (e) {
      if (e instanceof BuildSyntaxError || e instanceof BuildSetupError) throw bad(e.message, { log: log.join("") })
      if (e instanceof BuildStepError) throw new ApiError({ status: 422, code: "BUILD_FAILED", reason: e.message, detail: { log: log.join(""), exitCode: e.exitCode } })
      throw e
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
