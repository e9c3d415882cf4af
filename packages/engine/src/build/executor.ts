// `cairn build`: runs a parsed Containerfile stage by stage. A config instruction changes the
// stage's image config (a history entry with empty_layer); COPY/ADD/RUN/WORKDIR change files:
// the stage's snapshots are mounted under a fresh writable layer (kernel overlay), the step
// works in the merged tree (RUN through crun), and the upper dir becomes the step's layer.
// Nothing of a step is left behind when it fails: the mount, the bundle and the scratch dirs
// live in containers/.tmp-<pid>-* (cleared at open if the process dies) and go in `finally`.
import { randomBytes } from "node:crypto"
import { mkdir, readFile, rm, stat } from "node:fs/promises"
import { join, posix, resolve } from "node:path"
import { chainIds, type Digest, digestHex } from "@cairn/digest"
import { acquireMount, listMounts, unmountEffect } from "@cairn/mount"
import { encodeCanonical, type ImageConfig, type ImageManifest, OciMediaType } from "@cairn/oci-spec"
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
import type { LayerDescriptor } from "../store.js"
import { isHostRoot } from "../userns.js"
import { adoptUpper } from "./adopt.js"
import { type CacheEntry, cacheDir, cacheKey, type HistoryEntry, lookup, record, type StepLayer } from "./cache.js"
import { CopySourceError, copyInto, ensureDirIn, FileHashes, resolveSources, type SourceItem, type SourceRoot, sourcesDigest } from "./copy.js"
import { BuildSetupError, BuildStepError, BuildSyntaxError } from "./errors.js"
import { IgnoreMatcher } from "./ignore.js"
import { type Instruction, parseContainerfile, type Stage, stagesOf } from "./parser.js"
import { runInContainer } from "./run.js"
import { type Lookup, pairs, WordSyntax, word, words } from "./words.js"

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

type Config = NonNullable<ImageConfig["config"]>
interface State {
  config: ImageConfig
  layers: Array<LayerDescriptor>
  diffIds: Array<Digest>
  history: Array<HistoryEntry>
  /** the stage's ARGs: name -> value (undefined: declared without one) */
  args: Map<string, string | undefined>
  shell: Array<string>
  cmdSet: boolean
}

const DEFAULT_SHELL = ["/bin/sh", "-c"]
const arch = () => ({ x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x" })[process.arch as string] ?? process.arch

const cfgOf = (s: State): Config => ({ ...(s.config.config ?? {}) })
const top = (s: State): string => (s.diffIds.length === 0 ? "" : chainIds(s.diffIds).at(-1)!)

export async function build(ctx: EngineContext, contextDir: string, options: BuildOptions = {}): Promise<BuildResult> {
  if (!isHostRoot()) throw new BuildSetupError({ reason: "cairn build needs root on the host (kernel overlay mounts and crun for RUN); run it as root" })
  const context = resolve(contextDir)
  const cst = await stat(context).catch(() => undefined)
  if (cst?.isDirectory() !== true) throw new BuildSetupError({ reason: `the build context ${contextDir} is not a directory` })
  let file = options.file
  if (file === undefined) {
    for (const name of ["Containerfile", "Dockerfile"]) {
      if ((await stat(join(context, name)).catch(() => undefined))?.isFile() === true) {
        file = join(context, name)
        break
      }
    }
    if (file === undefined) throw new BuildSetupError({ reason: `no Containerfile or Dockerfile in ${context}: give one with -f` })
  }
  const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new BuildSetupError({ reason: `cannot read the Containerfile ${file} (${e.code})` })
  })
  for (const t of options.tags ?? []) normalizeName(t) // a bad name fails before any work
  const shown = posix.basename(file)
  const cf = parseContainerfile(text, shown)
  const { globalArgs, stages } = stagesOf(cf)
  const envTs = process.env.SOURCE_DATE_EPOCH?.trim()
  const timestamp = options.timestamp ?? (envTs !== undefined && /^\d+$/.test(envTs) ? Number(envTs) : undefined)
  const buildArgs = options.buildArgs ?? {}
  const say = options.onLine ?? (() => {})

  // global ARGs (before the first FROM): usable in FROM lines, re-imported by `ARG NAME` in a stage
  const globals = new Map<string, string | undefined>()
  const syntax = (ins: Instruction, e: unknown): never => {
    if (e instanceof WordSyntax) throw new BuildSyntaxError({ file: shown, line: ins.line, column: ins.argsColumn + e.offset, reason: e.reason })
    throw e
  }
  const unsetArg = (ins: Instruction, name: string) =>
    new BuildSyntaxError({ file: shown, line: ins.line, column: ins.argsColumn + Math.max(0, ins.args.indexOf(name) - 1), reason: `ARG ${name} is used but has no value: give it a default (ARG ${name}=...) or --build-arg ${name}=...` })
  const lookupIn = (ins: Instruction, env: ReadonlyArray<string>, args: Map<string, string | undefined>): Lookup => (name) => {
    const e = [...env].reverse().find((x) => x.startsWith(`${name}=`))
    if (e !== undefined) return e.slice(name.length + 1)
    if (args.has(name)) {
      const v = args.get(name)
      if (v === undefined) throw unsetArg(ins, name)
      return v
    }
    return undefined
  }
  for (const ins of globalArgs) {
    for (const [k, v] of pairsOf(ins, cf.escape, lookupIn(ins, [], globals), syntax)) globals.set(k, buildArgs[k] ?? v)
  }

  // which stages the target needs
  const stageRef = (ref: string): Stage | undefined => stages.find((s) => s.name === ref.toLowerCase()) ?? (/^\d+$/.test(ref) ? stages[Number(ref)] : undefined)
  const fromName = (s: Stage) => {
    try {
      return word(s.from.args.split(/\s+/)[0]!, cf.escape, lookupIn(s.from, [], globals))
    } catch (e) {
      return syntax(s.from, e)
    }
  }
  let target = stages[stages.length - 1]!
  if (options.target !== undefined) {
    const t = stages.find((s) => s.name === options.target!.toLowerCase())
    if (t === undefined) throw new BuildSetupError({ reason: `no stage named ${JSON.stringify(options.target)} in ${shown} (stages: ${stages.map((s) => s.name ?? s.index).join(", ")})` })
    target = t
  }
  const needed = new Set<number>()
  const need = (s: Stage) => {
    if (needed.has(s.index)) return
    needed.add(s.index)
    const base = stageRef(fromName(s))
    if (base !== undefined && base.index < s.index) need(base)
    for (const ins of s.instructions) {
      const from = ins.flags.from
      if (typeof from === "string") {
        const dep = stageRef(from)
        if (dep !== undefined && dep.index < s.index) need(dep)
      }
    }
  }
  need(target)
  const order = stages.filter((s) => needed.has(s.index))
  const total = order.reduce((n, s) => n + 1 + s.instructions.length, 0)

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
        await ensureSnapshot(ctx, state.layers, state.diffIds, state.layers.length - 1)
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
      const setConfig = (state: State, patch: Partial<Config>) => {
        state.config = { ...state.config, config: { ...cfgOf(state), ...patch } }
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
          const one = (s: string) => {
            try {
              return word(s, cf.escape, look)
            } catch (e) {
              return syntax(ins, e)
            }
          }
          const many = (s: string) => {
            try {
              return words(s, cf.escape, look)
            } catch (e) {
              return syntax(ins, e)
            }
          }
          const nop = (what: string) => `/bin/sh -c #(nop) ${what}`
          switch (ins.keyword) {
            case "ARG": {
              const defs = pairsOf(ins, cf.escape, look, syntax)
              for (const [k, v] of defs) state.args.set(k, buildArgs[k] ?? v ?? (globals.has(k) ? globals.get(k) : undefined))
              await step(state, nop(`ARG ${defs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join(" ")}`), {})
              break
            }
            case "ENV": {
              const defs = pairsOf(ins, cf.escape, look, syntax, true)
              let e = [...env()]
              for (const [k, v] of defs) {
                if (v === undefined) fail(ins, `ENV ${k} has no value: ENV NAME=VALUE`)
                e = e.filter((x) => !x.startsWith(`${k}=`))
                e.push(`${k}=${v}`)
              }
              setConfig(state, { Env: e })
              await step(state, nop(`ENV ${defs.map(([k, v]) => `${k}=${v}`).join(" ")}`), {})
              break
            }
            case "LABEL": {
              const defs = pairsOf(ins, cf.escape, look, syntax, true)
              const labels = { ...(cfgOf(state).Labels ?? {}) }
              for (const [k, v] of defs) labels[k] = v ?? ""
              setConfig(state, { Labels: labels })
              await step(state, nop(`LABEL ${defs.map(([k, v]) => `${k}=${v ?? ""}`).join(" ")}`), {})
              break
            }
            case "MAINTAINER": {
              state.config = { ...state.config, author: one(ins.args) }
              await step(state, nop(`MAINTAINER ${one(ins.args)}`), {})
              break
            }
            case "WORKDIR": {
              const dir = posix.resolve(cfgOf(state).WorkingDir || "/", one(ins.args))
              setConfig(state, { WorkingDir: dir })
              // created by the stage's next COPY/RUN (in that step's layer), as buildah does
              await step(state, nop(`WORKDIR ${dir}`), {})
              break
            }
            case "USER": {
              setConfig(state, { User: one(ins.args) })
              await step(state, nop(`USER ${one(ins.args)}`), {})
              break
            }
            case "EXPOSE": {
              const ports = { ...(cfgOf(state).ExposedPorts ?? {}) }
              for (const p of many(ins.args)) {
                if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) fail(ins, `EXPOSE ${p}: expected PORT[/tcp|udp|sctp]`)
                ports[p.includes("/") ? p.toLowerCase() : `${p}/tcp`] = {}
              }
              setConfig(state, { ExposedPorts: ports })
              await step(state, nop(`EXPOSE ${Object.keys(ports).join(" ")}`), {})
              break
            }
            case "VOLUME": {
              const vols = { ...(cfgOf(state).Volumes ?? {}) }
              for (const v of ins.json ?? many(ins.args)) vols[v] = {}
              setConfig(state, { Volumes: vols })
              await step(state, nop(`VOLUME ${JSON.stringify(Object.keys(vols))}`), {})
              break
            }
            case "STOPSIGNAL": {
              setConfig(state, { StopSignal: one(ins.args) })
              await step(state, nop(`STOPSIGNAL ${one(ins.args)}`), {})
              break
            }
            case "SHELL": {
              if (ins.json === undefined || ins.json.length === 0) throw new BuildSyntaxError({ file: shown, line: ins.line, column: ins.argsColumn, reason: 'SHELL takes the JSON form: SHELL ["executable", "parameters"]' })
              state.shell = [...ins.json]
              await step(state, nop(`SHELL ${JSON.stringify(ins.json)}`), {})
              break
            }
            case "ENTRYPOINT":
            case "CMD": {
              const argv = ins.json !== undefined ? [...ins.json] : [...state.shell, ins.args]
              if (ins.keyword === "CMD") {
                setConfig(state, { Cmd: argv })
                state.cmdSet = true
              } else {
                setConfig(state, { Entrypoint: argv })
                // an ENTRYPOINT resets a CMD inherited from the base (docker and buildah do)
                if (!state.cmdSet) {
                  const { Cmd: _, ...c } = cfgOf(state)
                  state.config = { ...state.config, config: c }
                }
              }
              await step(state, nop(`${ins.keyword} ${JSON.stringify(argv)}`), {})
              break
            }
            case "HEALTHCHECK": {
              const hc = healthcheck(ins, shown)
              state.config = { ...state.config, config: { ...cfgOf(state), Healthcheck: hc } as Config }
              await step(state, nop(`HEALTHCHECK ${JSON.stringify(hc)}`), {})
              break
            }
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

function pairsOf(ins: Instruction, esc: string, look: Lookup, syntax: (ins: Instruction, e: unknown) => never, legacy = false): Array<[string, string | undefined]> {
  try {
    return pairs(ins.args, esc, look, legacy)
  } catch (e) {
    return syntax(ins, e)
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/
const NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }

function healthcheck(ins: Instruction, file: string): Record<string, unknown> {
  const bad = (reason: string) => new BuildSyntaxError({ file, line: ins.line, column: ins.argsColumn, reason })
  const args = ins.args.trim()
  if (/^none$/i.test(args)) return { Test: ["NONE"] }
  const m = /^CMD\s+(.*)$/is.exec(args)
  if (m === null) throw bad("HEALTHCHECK takes [OPTIONS] CMD command, or NONE")
  const rest = m[1]!.trim()
  let test: Array<string>
  try {
    const j: unknown = rest.startsWith("[") ? JSON.parse(rest) : undefined
    test = Array.isArray(j) ? ["CMD", ...(j as Array<string>)] : ["CMD-SHELL", rest]
  } catch {
    test = ["CMD-SHELL", rest]
  }
  const out: Record<string, unknown> = { Test: test }
  const names: Record<string, string> = { interval: "Interval", timeout: "Timeout", "start-period": "StartPeriod", "start-interval": "StartInterval" }
  for (const [flag, value] of Object.entries(ins.flags)) {
    if (flag === "retries") {
      if (typeof value !== "string" || !/^\d+$/.test(value)) throw bad(`--retries=${String(value)}: expected a whole number`)
      out.Retries = Number(value)
      continue
    }
    const d = typeof value === "string" ? DURATION.exec(value) : null
    if (d === null) throw bad(`--${flag}=${String(value)}: expected a duration such as 30s`)
    out[names[flag]!] = Math.round(Number(d[1]) * NS[d[2]!]!)
  }
  return out
}
