// `cairn build`: runs a parsed Containerfile stage by stage. A config instruction changes the
// stage's image config (a history entry with empty_layer); COPY/ADD/RUN/WORKDIR change files:
// the stage's snapshots are mounted under a fresh writable layer (kernel overlay), the step
// works in the merged tree (RUN through crun), and the upper dir becomes the step's layer.
// Nothing of a step is left behind when it fails: the mount, the bundle and the scratch dirs
// live in containers/.tmp-<pid>-* (cleared at open if the process dies) and go in `finally`.
import { randomBytes } from "node:crypto"
import { mkdir, rm, } from "node:fs/promises"
import { join, posix, } from "node:path"
import { chainIds, digestHex } from "@cairn/digest"
import { acquireMount, listMounts, unmountEffect } from "@cairn/mount"
import { encodeCanonical, type ImageConfig, type ImageManifest, OciMediaType } from "@cairn/oci-spec/lazy"
import { diffUpper } from "@cairn/overlay"
import * as Effect from "effect/Effect"
import { pidAlive, tempOwner } from "../atomic.js"
import { storeLayerFile } from "../commit.js"
import type { EngineContext } from "../context.js"
import { ImageNotFoundError } from "../errors.js"
import { findImage, type ImageSummary, loadImage, resolveImage, summarize } from "../images.js"
import { normalizeName } from "../reference.js"
import { resolveUser } from "../runtimeSpec.js"
import { withSnapshotLease } from "../snapshotLease.js"
import { ensureSnapshot, lowerDirs } from "../snapshots.js"
import { adoptUpper } from "./adopt.js"
import { type CacheEntry, cacheDir, cacheKey, type HistoryEntry, lookup, record, type StepLayer } from "./cache.js"
import { CopySourceError, copyInto, ensureDirIn, FileHashes, resolveSources, type SourceItem, type SourceRoot, sourcesDigest } from "./copy.js"
import { BuildStepError, BuildSyntaxError } from "./errors.js"
import { IgnoreMatcher } from "./ignore.js"
import type { Instruction, } from "./parser.js"
import { runInContainer } from "./run.js"
import { configStep, expander } from "./configSteps.js"
import { planBuild } from "./plan.js"
import { arch, cfgOf, DEFAULT_SHELL, type State, top } from "./state.js"

export interface BuildOptions {
  /** the Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile) */
  readonly file?: string
  /** names (name[:tag]) for the built image */
  readonly tags?: ReadonlyArray<string>
  readonly buildArgs?: Readonly<Record<string, string>>
  /** the stage to build (default the last) */
  readonly target?: string
  readonly noCache?: boolean
  /** seconds since the epoch for every created time and file mtime (default SOURCE_DATE_EPOCH when set) */
  readonly timestamp?: number
  /** RUN's network: none (default) or the host's */
  readonly network?: "none" | "host"
  /** progress lines (`STEP 3/7: RUN ...`, `--> Using cache ...`) */
  readonly onLine?: (line: string) => void
  /** RUN's output as it comes */
  readonly onOutput?: (chunk: Buffer, stream: "stdout" | "stderr") => void
}

export interface BuildResult {
  readonly image: ImageSummary
  readonly steps: number
  /** steps answered from the cache */
  readonly cached: number
  /** layers made by this build (0 when everything came from the cache) */
  readonly layersCreated: number
}

export async function build(ctx: EngineContext, contextDir: string, options: BuildOptions = {}): Promise<BuildResult> {
  const { context, shown, cf, globals, syntax, lookupIn, stageRef, fromName, target, order, total, timestamp, buildArgs, say } = await planBuild(contextDir, options)

  await unmountDeadSteps(ctx)
  const ignore = await IgnoreMatcher.load(context)
  await mkdir(cacheDir(ctx), { recursive: true })
  const fileHashes = await FileHashes.load(join(cacheDir(ctx), "context-files.json"))
  const results = new Map<number, State>()
  let stepNo = 0
  let cachedSteps = 0
  let layersCreated = 0
  const created = () => (timestamp !== undefined ? new Date(timestamp * 1000).toISOString().replace(".000Z", "Z") : new Date().toISOString())

  return ctx.store.withLease((lease) =>
    withSnapshotLease(ctx.layout, [], async (hold) => {
      const fail = (ins: Instruction, reason: string, exitCode?: number): never => {
        throw new BuildStepError({ file: shown, line: ins.line, step: stepNo, steps: total, instruction: ins.text.length > 80 ? `${ins.text.slice(0, 77)}...` : ins.text, reason, ...(exitCode === undefined ? {} : { exitCode }) })
      }

      /** Mounts the state's stack under a fresh writable layer, runs f in it, and makes the upper dir a layer. */
      const layerStep = async (state: State, f: (root: string) => Promise<void>): Promise<StepLayer> => {
        const scratch = await scratchDir()
        try {
          const lowers = await lowersOf(state)
          const m = await mountOver(lowers, scratch)
          try {
            const workdir = cfgOf(state).WorkingDir
            if (typeof workdir === "string" && workdir !== "") await ensureDirIn(m.path, workdir)
            await f(m.path)
          } finally {
            await Effect.runPromise(m.unmount({ lazy: true }))
          }
          const layer = await storeLayerFile(ctx, lease, (out) =>
            diffUpper(join(scratch, "upper"), out, { compression: "gzip", xattrNamespace: "trusted", ...(timestamp === undefined ? {} : { mtime: timestamp }) })
          )
          layersCreated++
          const made = { digest: layer.digest, size: layer.size, mediaType: layer.mediaType, diffId: layer.diffId }
          // the upper dir is the new snapshot (kernel overlay as root: trusted.* marks, 0/0 whiteouts)
          const chain = chainIds([...state.diffIds, made.diffId])
          await hold([chain.at(-1)!])
          await adoptUpper(ctx, chain.at(-1)!, chain.at(-2), made, join(scratch, "upper"), timestamp)
          return made
        } finally {
          await rm(scratch, { recursive: true, force: true })
        }
      }
      const scratchDir = async () => {
        const dir = join(ctx.layout.containers, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}-build`)
        for (const d of ["upper", "work", "merged", "lower"]) await mkdir(join(dir, d), { recursive: true })
        return dir
      }
      const mountOver = (lowers: Array<string>, scratch: string) =>
        Effect.runPromise(
          acquireMount(
            { lowers: lowers.length > 0 ? lowers : [join(scratch, "lower")], upper: join(scratch, "upper"), work: join(scratch, "work"), target: join(scratch, "merged") },
            { driver: "kernel" }
          )
        )
      const lowersOf = async (state: State): Promise<Array<string>> => {
        if (state.layers.length === 0) return []
        const chain = chainIds(state.diffIds)
        await hold(chain)
        await Effect.runPromise(ensureSnapshot(ctx, state.layers, state.diffIds, state.layers.length - 1))
        return lowerDirs(ctx.layout, chain)
      }
      /** A read-only view of a state (COPY --from): its stack under a throwaway upper. */
      const withView = async <T>(state: State, f: (root: string) => Promise<T>): Promise<T> => {
        const scratch = await scratchDir()
        try {
          const lowers = await lowersOf(state)
          if (lowers.length === 0) return await f(join(scratch, "lower"))
          const m = await mountOver(lowers, scratch)
          try {
            return await f(m.path)
          } finally {
            await Effect.runPromise(m.unmount({ lazy: true }))
          }
        } finally {
          await rm(scratch, { recursive: true, force: true })
        }
      }
      /** Looks the step up in the cache, else runs it; appends its history (and layer). */
      const step = async (state: State, expanded: string, extra: Record<string, unknown>, run?: () => Promise<StepLayer>) => {
        const key = cacheKey({ parent: top(state), config: state.config.config ?? {}, instruction: expanded, ...extra })
        const hit = options.noCache === true ? undefined : await lookup(ctx, key)
        let entry: CacheEntry
        if (hit !== undefined && (hit.layer !== undefined) === (run !== undefined)) {
          cachedSteps++
          if (run !== undefined) say(`--> Using cache ${digestHex(hit.layer!.diffId)}`)
          entry = timestamp === undefined ? hit : { ...hit, history: { ...hit.history, created: created() } }
        } else {
          const history: HistoryEntry = { created: created(), created_by: expanded, ...(run === undefined ? { empty_layer: true } : {}) }
          entry = run === undefined ? { history } : { history, layer: await run() }
          await record(ctx, key, entry)
          if (entry.layer !== undefined) say(`--> ${digestHex(entry.layer.diffId).slice(0, 12)}`)
        }
        state.history.push(entry.history)
        if (entry.layer !== undefined) {
          state.layers.push({ digest: entry.layer.digest, size: entry.layer.size, mediaType: entry.layer.mediaType })
          state.diffIds.push(entry.layer.diffId)
          state.config = { ...state.config, rootfs: { type: "layers", diff_ids: [...state.diffIds] } }
        }
      }

      for (const stage of order) {
        // FROM
        stepNo++
        say(`STEP ${stepNo}/${total}: ${stage.from.text}`)
        const base = fromName(stage)
        if (base === "") fail(stage.from, "FROM names no image (an ARG without a value?)")
        let state: State
        const prev = stageRef(base)
        if (prev !== undefined && results.has(prev.index)) {
          const p = results.get(prev.index)!
          state = { ...p, config: structuredClone(p.config), layers: [...p.layers], diffIds: [...p.diffIds], history: [...p.history], args: new Map(), shell: [...p.shell], cmdSet: false }
        } else if (base === "scratch") {
          state = {
            config: { architecture: arch(), os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [] }, history: [] } as ImageConfig,
            layers: [],
            diffIds: [],
            history: [],
            args: new Map(),
            shell: [...DEFAULT_SHELL],
            cmdSet: false
          }
        } else {
          const img = await baseImage(ctx, base).catch((e: unknown) => fail(stage.from, e instanceof Error ? e.message : String(e)))
          state = {
            config: structuredClone(img.config),
            layers: [...img.layers],
            diffIds: [...img.diffIds],
            history: [...(img.config.history ?? [])],
            args: new Map(),
            shell: [...DEFAULT_SHELL],
            cmdSet: false
          }
        }
        const { created: _c, ...rest } = state.config
        state.config = rest as ImageConfig
        results.set(stage.index, state)

        for (const ins of stage.instructions) {
          stepNo++
          say(`STEP ${stepNo}/${total}: ${ins.text}`)
          const env = () => cfgOf(state).Env ?? []
          const look = lookupIn(ins, env(), state.args)
          const { one, many } = expander(ins, cf.escape, look, syntax)
          const nop = (what: string) => `/bin/sh -c #(nop) ${what}`
          const text = configStep(ins, state, { escape: cf.escape, file: shown, look, buildArgs, globals, syntax, fail })
          if (text !== undefined) {
            await step(state, nop(text), {})
            continue
          }
          switch (ins.keyword) {
            case "COPY":
            case "ADD": {
              const chown = typeof ins.flags.chown === "string" ? one(ins.flags.chown) : undefined
              const chmodFlag = typeof ins.flags.chmod === "string" ? ins.flags.chmod : undefined
              if (chmodFlag !== undefined && !/^[0-7]{3,4}$/.test(chmodFlag)) fail(ins, `--chmod=${chmodFlag}: expected an octal mode such as 0755`)
              const parts = ins.json ?? many(ins.args)
              if (parts.length < 2) throw new BuildSyntaxError({ file: shown, line: ins.line, column: ins.argsColumn, reason: `${ins.keyword} takes SOURCE... DEST` })
              const destRaw = parts[parts.length - 1]!
              const sources = parts.slice(0, -1)
              const workdir = cfgOf(state).WorkingDir || "/"
              const dest = destRaw.startsWith("/") ? destRaw : posix.join(workdir, destRaw) + (destRaw.endsWith("/") || destRaw === "." ? "/" : "")
              const heredocs = new Map(ins.heredocs.map((h) => [h.name, h.body]))
              const inline: Array<SourceItem> = []
              const fromFiles = sources.filter((s) => {
                const h = /^<<-?["']?([A-Za-z_][A-Za-z0-9_]*)["']?$/.exec(s)
                if (h === null || !heredocs.has(h[1]!)) return true
                inline.push({ rel: h[1]!, abs: "", st: undefined as never, entries: [], inline: heredocs.get(h[1]!)! })
                return false
              })
              const from = typeof ins.flags.from === "string" ? one(ins.flags.from) : undefined
              const doCopy = async (src: SourceRoot) => {
                let items: Array<SourceItem>
                try {
                  items = [...(fromFiles.length > 0 ? await resolveSources(src, fromFiles) : []), ...inline]
                } catch (e) {
                  if (e instanceof CopySourceError) return fail(ins, e.message)
                  throw e
                }
                const digest = await sourcesDigest(items, from === undefined ? fileHashes : undefined)
                const expanded = `/bin/sh -c #(nop) ${ins.keyword} ${from === undefined ? "" : `--from=${from} `}${chown === undefined ? "" : `--chown=${chown} `}${chmodFlag === undefined ? "" : `--chmod=${chmodFlag} `}${digest.slice(0, 16)} in ${dest}`
                await step(state, expanded, { content: digest }, () =>
                  layerStep(state, async (root) => {
                    const owner = chown === undefined ? undefined : await resolveUser(root, chown).catch((e: unknown) => fail(ins, `--chown=${chown}: ${(e as Error).message}`))
                    await copyInto(root, items, {
                      dest,
                      destIsDir: items.length > 1 || sources.some((s) => /[*?[]/.test(s)),
                      ...(owner === undefined ? {} : { owner }),
                      ...(chmodFlag === undefined ? {} : { mode: Number.parseInt(chmodFlag, 8) }),
                      extractArchives: ins.keyword === "ADD"
                    }).catch((e: unknown) => fail(ins, e instanceof CopySourceError ? e.message : `copy into ${dest}: ${(e as Error).message}`))
                  })
                )
              }
              if (from === undefined) await doCopy({ dir: context, ignore, label: "the build context" })
              else {
                const dep = stageRef(from)
                let src: State
                if (dep !== undefined) {
                  if (!results.has(dep.index) || dep.index >= stage.index) fail(ins, `--from=${from}: a stage can only copy from an earlier stage`)
                  src = results.get(dep.index)!
                } else {
                  const img = await baseImage(ctx, from).catch((e: unknown) => fail(ins, `--from=${from}: ${(e as Error).message}`))
                  src = { config: img.config, layers: [...img.layers], diffIds: [...img.diffIds], history: [], args: new Map(), shell: [], cmdSet: false }
                }
                await withView(src, (root) => doCopy({ dir: root, ignore: new IgnoreMatcher([]), label: `--from=${from}` }))
              }
              break
            }
            case "RUN": {
              const asked = (typeof ins.flags.network === "string" ? ins.flags.network : undefined) ?? options.network ?? "none"
              if (asked !== "none" && asked !== "host") fail(ins, `--network=${asked}: cairn build runs with none or host`)
              const network = asked as "none" | "host"
              let argv: Array<string>
              if (ins.json !== undefined) argv = [...ins.json]
              else if (ins.heredocs.length === 1 && /^<<-?["']?[A-Za-z_][A-Za-z0-9_]*["']?$/.test(ins.args)) argv = [...state.shell, ins.heredocs[0]!.body]
              else argv = [...state.shell, ins.heredocs.length === 0 ? ins.args : `${ins.args}\n${ins.heredocs.map((h) => `${h.body}${h.name}`).join("\n")}`]
              const argEnv = [...state.args].filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`)
              const expanded = ins.json !== undefined ? JSON.stringify(argv) : argv.join(" ")
              const shownBy = argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(" ")} ${expanded}` : expanded
              await step(state, shownBy, { network }, () =>
                layerStep(state, async (root) => {
                  const code = await runInContainer({
                    rootfs: root,
                    bundleDir: join(root, "..", "bundle"),
                    config: state.config,
                    args: argv,
                    env: argEnv,
                    network,
                    onOutput: options.onOutput ?? (() => {})
                  })
                  if (code !== 0) fail(ins, `the command exited with code ${code}`, code)
                })
              )
              break
            }
          }
        }
      }

      // the image: the target stage's config and layers
      const state = results.get(target.index)!
      const config: ImageConfig = {
        ...state.config,
        created: state.history.at(-1)?.created ?? created(),
        rootfs: { type: "layers", diff_ids: [...state.diffIds] },
        history: state.history
      }
      const configDoc = await encodeCanonical(config)
      await ctx.store.put({ digest: configDoc.digest, size: configDoc.size, mediaType: OciMediaType.ImageConfig }, configDoc.bytes, lease)
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: OciMediaType.ImageManifest,
        config: { mediaType: OciMediaType.ImageConfig, digest: configDoc.digest, size: configDoc.size },
        layers: state.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }))
      }
      const manifestDoc = await encodeCanonical(manifest)
      await ctx.store.put({ digest: manifestDoc.digest, size: manifestDoc.size, mediaType: OciMediaType.ImageManifest }, manifestDoc.bytes, lease)
      const descriptor = { mediaType: OciMediaType.ImageManifest, digest: manifestDoc.digest, size: manifestDoc.size }
      const names = (options.tags ?? []).map(normalizeName)
      if (names.length === 0) await ctx.store.addUntagged(descriptor)
      for (const n of names) {
        say(`COMMIT ${n}`)
        await ctx.store.tag(n, descriptor)
      }
      const img = await loadImage(ctx, { descriptor, names })
      return { image: summarize(img), steps: total, cached: cachedSteps, layersCreated }
    })
  )
}

/**
 * The step mounts of a build whose process died (killed mid-step): unmounted and removed. (Open
 * removes a dead process's temp dirs, but cannot remove a dir that is still a mount point.)
 */
async function unmountDeadSteps(ctx: EngineContext): Promise<void> {
  const prefix = `${ctx.layout.containers}/.tmp-`
  for (const m of await listMounts()) {
    if (!m.mountPoint.startsWith(prefix) || !m.mountPoint.endsWith("-build/merged")) continue
    const scratch = m.mountPoint.slice(0, -"/merged".length)
    const pid = tempOwner(scratch.slice(ctx.layout.containers.length + 1))
    if (pid === undefined || pidAlive(pid)) continue
    await Effect.runPromise(unmountEffect(m.mountPoint, { lazy: true })).catch(() => {})
    await rm(scratch, { recursive: true, force: true }).catch(() => {})
  }
}

/** An image in the store, pulled when missing. */
async function baseImage(ctx: EngineContext, ref: string) {
  try {
    return await resolveImage(ctx, ref)
  } catch (e) {
    if (!(e instanceof ImageNotFoundError)) throw e
  }
  const pulled = await (await import("../transfer.js")).pull(ctx, ref)
  return loadImage(ctx, await findImage(ctx, pulled.digest))
}
