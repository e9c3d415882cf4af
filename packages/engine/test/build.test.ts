import { execFileSync, spawn } from "node:child_process"
import { once } from "node:events"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine, IgnoreMatcher, parseContainerfile } from "../src/index.js"
import { buildLayout, busyboxLayer, haveTool, mountinfoLines, tempDir } from "./fixtures.js"

const root = process.getuid?.() === 0
const canRun = root && haveTool("crun")
if (!canRun) console.warn("skipping cairn build runs: they need root and crun (Debian package crun)")

describe("Containerfile parser", () => {
  it("names the line and column of an unknown instruction", () => {
    expect(() => parseContainerfile("FROM scratch\n# c\n  FRM x\n")).toThrow(expect.objectContaining({ _tag: "BuildSyntaxError", line: 3, column: 3 }))
    try {
      parseContainerfile("FROM scratch\nONBUILD RUN x\n", "Dockerfile")
    } catch (e) {
      expect((e as Error).message).toBe("Dockerfile:2:1: ONBUILD is not supported by cairn build")
    }
  })
  it("joins continuations, drops comments inside them, honours # escape=`, reads heredocs", () => {
    const cf = parseContainerfile("# escape=`\nFROM scratch\nRUN echo a `\n# inside\n  b\nCOPY <<EOF /x\nhello\nEOF\nRUN [\"a\", \"b\"]\n")
    expect(cf.escape).toBe("`")
    expect(cf.instructions.map((i) => i.keyword)).toEqual(["FROM", "RUN", "COPY", "RUN"])
    expect(cf.instructions[1]!.args).toBe("echo a   b")
    expect(cf.instructions[2]!.heredocs).toEqual([{ name: "EOF", body: "hello\n" }])
    expect(cf.instructions[3]!.json).toEqual(["a", "b"])
    expect(cf.instructions[3]!.line).toBe(9)
  })
  it("refuses an unknown flag and an instruction before FROM", () => {
    expect(() => parseContainerfile("FROM scratch\nCOPY --frm=a b c\n")).toThrow(/:2:6: COPY does not take --frm/)
    expect(() => parseContainerfile("RUN x\nFROM scratch\n")).toThrow(/:1:1: RUN before the first FROM/)
  })
})

describe(".dockerignore matching (docker's rules)", () => {
  const m = new IgnoreMatcher(["# comment", "*.log", "!keep.log", "/tmp", "**/cache", "docs/**/*.md", "!docs/README.md"])
  it.each([
    ["a.log", true],
    ["keep.log", false],
    ["sub/a.log", false],
    ["tmp/x", true],
    ["a/b/cache/x", true],
    ["cache", true],
    ["docs/x/y.md", true],
    ["docs/README.md", false],
    ["src/main.c", false]
  ])("%s ignored: %s", (p, ignored) => expect(m.ignores(p)).toBe(ignored))
})

describe.skipIf(!canRun)("cairn build", () => {
  let dir: string
  let engine: Engine
  let ctxDir: string
  const lines: Array<string> = []
  const output: Array<string> = []
  const opts = { onLine: (l: string) => lines.push(l), onOutput: (c: Buffer) => output.push(c.toString()) }
  const leftovers = () => ({
    mounts: mountinfoLines(dir).length,
    tmp: readdirSync(join(dir, "root", "containers")).length,
    snapshotsTmp: readdirSync(join(dir, "root", "snapshots")).filter((n) => n.startsWith(".tmp")).length
  })
  beforeAll(async () => {
    dir = tempDir()
    buildLayout(join(dir, "base"), "bb", [busyboxLayer, { files: { "etc/motd": "hi\n", "opt/old/a": "a\n", "opt/old/b": "b\n" } }], {
      Cmd: ["sh"],
      Env: ["PATH=/bin:/usr/bin"]
    })
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "base")}:bb`, "busybox:latest")
    ctxDir = join(dir, "ctx")
    mkdirSync(join(ctxDir, "app", "sub"), { recursive: true })
    writeFileSync(join(ctxDir, "app", "one.txt"), "one\n")
    writeFileSync(join(ctxDir, "app", "two.txt"), "two\n")
    writeFileSync(join(ctxDir, "app", "debug.log"), "noise\n")
    writeFileSync(join(ctxDir, "app", "sub", "three.txt"), "three\n")
    writeFileSync(join(ctxDir, ".dockerignore"), "**/*.log\n")
    writeFileSync(
      join(ctxDir, "Containerfile"),
      [
        "ARG BASE=busybox",
        "FROM $BASE",
        "ARG WHO=world",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Containerfile syntax
        "ENV GREETING=\"hello ${WHO}\" APP=/app",
        "LABEL org.example.a=\"x y\" b=c",
        "WORKDIR $APP",
        "COPY app/*.txt ./",
        "COPY --chown=nobody:nogroup --chmod=0640 app/sub /data/",
        "RUN echo \"$GREETING\" > greeting && rm /etc/motd && rm -rf /opt/old && mkdir /opt/old && echo new > /opt/old/c && echo out-$WHO",
        "USER nobody",
        "EXPOSE 8080 53/udp",
        "VOLUME /data",
        "STOPSIGNAL SIGTERM",
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
        "CMD echo hi",
        ""
      ].join("\n")
    )
  })
  afterAll(async () => {
    await engine?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("builds config steps, COPY and RUN into an image with one history entry per instruction", async () => {
    const r = await engine.build(ctxDir, { tags: ["built:1"], buildArgs: { WHO: "cairn" }, timestamp: 1700000000, ...opts })
    expect(lines[0]).toBe("STEP 1/14: FROM $BASE")
    expect(lines).toContain("STEP 8/14: RUN echo \"$GREETING\" > greeting && rm /etc/motd && rm -rf /opt/old && mkdir /opt/old && echo new > /opt/old/c && echo out-$WHO")
    expect(output.join("")).toContain("out-cairn")
    expect(r.steps).toBe(14)
    const inspect = await engine.inspectImage("built:1")
    const c = inspect.config.config!
    expect(c.Env).toEqual(["PATH=/bin:/usr/bin", "GREETING=hello cairn", "APP=/app"])
    expect(c.Labels).toEqual({ "org.example.a": "x y", b: "c" })
    expect(c.WorkingDir).toBe("/app")
    expect(c.User).toBe("nobody")
    expect(c.ExposedPorts).toEqual({ "8080/tcp": {}, "53/udp": {} })
    expect(c.Volumes).toEqual({ "/data": {} })
    expect(c.StopSignal).toBe("SIGTERM")
    expect(c.Entrypoint).toEqual(["/bin/sh", "-c"])
    expect(c.Cmd).toEqual(["/bin/sh", "-c", "echo hi"])
    expect(inspect.config.created).toBe("2023-11-14T22:13:20Z")
    // base 2 layers + 2 COPY + RUN (the WORKDIR is created in the first COPY's layer, as buildah does)
    expect(inspect.layers.length).toBe(5)
    const history = inspect.config.history!
    expect(history.length).toBe(2 + 13)
    expect(history.filter((h) => h.empty_layer !== true).length).toBe(5)
    // the RUN layer deletes a lower file with a whiteout and replaces a lower dir with an opaque one
    const runLayer = inspect.layers.at(-1)!.digest.slice(7)
    const listed = execFileSync("tar", ["-tzf", join(dir, "root", "blobs", "sha256", runLayer)], { encoding: "utf8" }).split("\n")
    expect(listed).toEqual(expect.arrayContaining(["etc/.wh.motd", "opt/old/.wh..wh..opq", "opt/old/c", "app/greeting"]))
    const flat = join(dir, "flat1")
    await engine.unpack("built:1", flat)
    expect(readFileSync(join(flat, "app", "greeting"), "utf8")).toBe("hello cairn\n")
    expect(readdirSync(join(flat, "app")).sort()).toEqual(["greeting", "one.txt", "two.txt"])
    expect(existsSync(join(flat, "etc", "motd"))).toBe(false)
    expect(readdirSync(join(flat, "opt", "old"))).toEqual(["c"])
    const three = statSync(join(flat, "data", "three.txt"))
    expect([three.uid, three.gid, three.mode & 0o777]).toEqual([65534, 65534, 0o640])
    expect(existsSync(join(flat, "proc"))).toBe(true)
    expect(leftovers()).toEqual({ mounts: 0, tmp: 0, snapshotsTmp: 0 })
  })

  it("rebuilds from the cache with no new layer, and reruns from a changed file's step", async () => {
    const before = await engine.inspectImage("built:1")
    lines.length = 0
    const again = await engine.build(ctxDir, { tags: ["built:1"], buildArgs: { WHO: "cairn" }, timestamp: 1700000000, ...opts })
    expect(again.layersCreated).toBe(0)
    expect(again.cached).toBe(again.steps - 1)
    expect(again.image.digest).toBe(before.digest)
    expect(lines.filter((l) => l.startsWith("--> Using cache")).length).toBe(3)
    writeFileSync(join(ctxDir, "app", "sub", "three.txt"), "THREE\n")
    lines.length = 0
    const changed = await engine.build(ctxDir, { tags: ["built:2"], buildArgs: { WHO: "cairn" }, timestamp: 1700000000, ...opts })
    // the first COPY from the cache; the second COPY and RUN again
    expect(changed.layersCreated).toBe(2)
    expect(lines.filter((l) => l.startsWith("--> Using cache")).length).toBe(1)
    const flat = join(dir, "flat2")
    await engine.unpack("built:2", flat)
    expect(readFileSync(join(flat, "data", "three.txt"), "utf8")).toBe("THREE\n")
  })

  it("gives the same digest for two --no-cache builds with --timestamp", async () => {
    const a = await engine.build(ctxDir, { noCache: true, timestamp: 1600000000, buildArgs: { WHO: "x" } })
    const b = await engine.build(ctxDir, { noCache: true, timestamp: 1600000000, buildArgs: { WHO: "x" } })
    expect(a.layersCreated).toBe(3)
    expect(b.image.digest).toBe(a.image.digest)
  })

  it("fails a RUN that exits non-zero with its step and code, leaving no mount, container or snapshot", async () => {
    const c = join(dir, "ctx-fail")
    mkdirSync(c)
    writeFileSync(join(c, "Containerfile"), "FROM busybox\nRUN echo partial > /f\nRUN echo bad >&2; exit 3\n")
    const df = await engine.df()
    const ps = await engine.listContainers()
    const err = await engine.build(c, opts).catch((e: unknown) => e)
    expect(err).toMatchObject({ _tag: "BuildStepError", line: 3, step: 3, steps: 3, exitCode: 3 })
    expect((err as Error).message).toBe("Containerfile:3: step 3/3 `RUN echo bad >&2; exit 3` failed: the command exited with code 3")
    expect(output.join("")).toContain("bad")
    expect(leftovers()).toEqual({ mounts: 0, tmp: 0, snapshotsTmp: 0 })
    expect(await engine.listContainers()).toEqual(ps)
    expect((await engine.df()).containers).toEqual(df.containers)
  })

  it("names the line of a missing COPY source and of an ARG used without a value", async () => {
    const c = join(dir, "ctx-bad")
    mkdirSync(c)
    writeFileSync(join(c, "Containerfile"), "FROM busybox\n\nCOPY nothere /x\n")
    await expect(engine.build(c)).rejects.toThrow(/^Containerfile:3: step 2\/2 `COPY nothere \/x` failed: "nothere" is not in the build context/)
    writeFileSync(join(c, "Containerfile"), "FROM busybox\nARG V\nWORKDIR /a/$V\n")
    await expect(engine.build(c)).rejects.toMatchObject({ _tag: "BuildSyntaxError", line: 3 })
    writeFileSync(join(c, "Containerfile"), "FROM busybox\nRUNN x\n")
    await expect(engine.build(c)).rejects.toThrow("Containerfile:2:1: unknown instruction \"RUNN\"")
    expect(leftovers()).toEqual({ mounts: 0, tmp: 0, snapshotsTmp: 0 })
  })

  it("builds multi-stage with COPY --from and stops at --target", async () => {
    const c = join(dir, "ctx-multi")
    mkdirSync(c)
    writeFileSync(
      join(c, "Containerfile"),
      "FROM busybox AS builder\nRUN mkdir /out && echo built > /out/artifact\nFROM busybox AS unused\nRUN exit 1\nFROM scratch\nCOPY --from=builder /out/artifact /artifact\nCOPY --from=busybox /bin/busybox /bin/\n"
    )
    const r = await engine.build(c, { tags: ["multi"] })
    expect(r.steps).toBe(5)
    const flat = join(dir, "flat-multi")
    await engine.unpack("multi", flat)
    expect(readdirSync(flat).sort()).toEqual(["artifact", "bin"])
    expect(readFileSync(join(flat, "artifact"), "utf8")).toBe("built\n")
    const t = await engine.build(c, { tags: ["multi:builder"], target: "builder" })
    expect(t.steps).toBe(2)
    await expect(engine.build(c, { target: "nope" })).rejects.toMatchObject({ _tag: "BuildSetupError" })
  })

  it("ADD extracts a local tar; heredocs; SHELL, HEALTHCHECK; exec-form RUN", async () => {
    const c = join(dir, "ctx-add")
    mkdirSync(join(c, "payload", "inner"), { recursive: true })
    writeFileSync(join(c, "payload", "inner", "x.txt"), "from tar\n")
    execFileSync("tar", ["-C", join(c, "payload"), "-czf", join(c, "payload.tgz"), "."])
    writeFileSync(join(c, "plain.txt"), "plain\n")
    writeFileSync(
      join(c, "Containerfile"),
      [
        "FROM busybox",
        "ADD payload.tgz /opt/p/",
        "ADD plain.txt /opt/plain.txt",
        "COPY <<EOF /etc/note",
        "written by a heredoc",
        "EOF",
        'SHELL ["/bin/sh", "-ec"]',
        "RUN <<EOF",
        "echo one > /h1",
        "echo two >> /h1",
        "EOF",
        'RUN ["/bin/sh", "-c", "cat /opt/p/inner/x.txt > /from-tar"]',
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
        ""
      ].join("\n")
    )
    await engine.build(c, { tags: ["adds"] })
    const flat = join(dir, "flat-add")
    await engine.unpack("adds", flat)
    expect(readFileSync(join(flat, "opt", "p", "inner", "x.txt"), "utf8")).toBe("from tar\n")
    expect(readFileSync(join(flat, "opt", "plain.txt"), "utf8")).toBe("plain\n")
    expect(readFileSync(join(flat, "etc", "note"), "utf8")).toBe("written by a heredoc\n")
    expect(readFileSync(join(flat, "h1"), "utf8")).toBe("one\ntwo\n")
    expect(readFileSync(join(flat, "from-tar"), "utf8")).toBe("from tar\n")
    const history = (await engine.inspectImage("adds")).config.history!
    expect(history.at(-1)!.created_by).toContain("HEALTHCHECK")
    expect(history.at(-1)!.empty_layer).toBe(true)
  })

  it("prune reclaims the layers of cache entries no image uses; a rebuild then makes them again", async () => {
    const c = join(dir, "ctx-prune")
    mkdirSync(c)
    writeFileSync(join(c, "Containerfile"), "FROM busybox\nRUN echo cached > /f\n")
    const first = await engine.build(c, { tags: ["prunable"] })
    expect(first.layersCreated).toBe(1)
    expect((await engine.build(c, { tags: ["prunable"] })).layersCreated).toBe(0)
    const cacheDir = join(dir, "root", "build-cache")
    const layersNamed = () =>
      readdirSync(cacheDir)
        .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
        .map((n) => JSON.parse(readFileSync(join(cacheDir, n), "utf8")).layer?.digest as string | undefined)
    const runLayer = (await engine.inspectImage("prunable")).layers.at(-1)!.digest
    expect(layersNamed()).toContain(runLayer)
    await engine.removeImage("prunable")
    await engine.prune()
    // the RUN step's entry named a layer only that image used: gone with it
    expect(layersNamed()).not.toContain(runLayer)
    const again = await engine.build(c, { tags: ["prunable"] })
    expect(again.layersCreated).toBe(1)
    expect(again.cached).toBe(0)
  })

  it("a build killed in a RUN leaves its step mount to the next build, which removes it", async () => {
    const c = join(dir, "ctx-killed")
    mkdirSync(c)
    writeFileSync(join(c, "Containerfile"), "FROM busybox\nRUN echo started && sleep 2\n")
    const child = spawn(process.execPath, [join(import.meta.dirname, "build-child.mjs"), join(dir, "root"), c], { stdio: ["ignore", "pipe", "inherit"] })
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("started") && resolve())
      child.on("exit", (code) => reject(new Error(`the build child exited (${code}) before its RUN started`)))
    })
    child.kill("SIGKILL")
    await once(child, "exit")
    expect(mountinfoLines(dir).length).toBeGreaterThan(0)
    const next = join(dir, "ctx-after")
    mkdirSync(next)
    writeFileSync(join(next, "Containerfile"), "FROM busybox\nENV AFTER=1\n")
    await engine.build(next)
    expect(leftovers()).toEqual({ mounts: 0, tmp: 0, snapshotsTmp: 0 })
  })

  it("RUN has no network unless --network host", async () => {
    const c = join(dir, "ctx-net")
    mkdirSync(c)
    writeFileSync(join(c, "Containerfile"), "FROM busybox\nRUN cat /proc/net/dev > /ifs\n")
    const count = async (name: string) => {
      const flat = join(dir, `flat-${name}`)
      await engine.unpack(name, flat)
      return readFileSync(join(flat, "ifs"), "utf8").split("\n").filter((l) => l.includes(":")).map((l) => l.split(":")[0]!.trim())
    }
    await engine.build(c, { tags: ["net-none"] })
    expect(await count("net-none")).toEqual(["lo"])
    await engine.build(c, { tags: ["net-host"], network: "host" })
    expect((await count("net-host")).length).toBeGreaterThan(1)
  })

  it("RUN runs as the stage's USER in its WORKDIR with its ENV and ARGs", async () => {
    const c = join(dir, "ctx-user")
    mkdirSync(c)
    writeFileSync(join(c, "Containerfile"), "FROM busybox\nARG A=from-arg\nENV E=from-env\nWORKDIR /w\nUSER nobody\nRUN echo \"$(/bin/busybox id -u):$(/bin/busybox pwd):$E:$A\"\n")
    const out: Array<string> = []
    await engine.build(c, { onOutput: (b) => out.push(b.toString()) })
    expect(out.join("")).toBe("65534:/w:from-env:from-arg\n")
  })
})
