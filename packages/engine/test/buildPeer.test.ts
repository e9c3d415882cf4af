// cairn build against buildah bud (the peer): the same Containerfiles over the same busybox base,
// both results unpacked flat and compared entry by entry, and their config fields compared.
import { execFileSync, spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Engine } from "../src/index.js"
import { buildLayout, busyboxLayer, haveTool } from "./fixtures.js"

const why = process.getuid?.() !== 0 ? "they need root" : !haveTool("crun") ? "crun is missing" : !haveTool("buildah") ? "buildah is missing (Debian package buildah)" : !haveTool("umoci") ? "umoci is missing" : undefined
if (why !== undefined) console.warn(`skipping the buildah comparison: ${why}`)

/** type, mode, owner, size, content digest, link target and xattrs of every entry under root. */
function entries(root: string): Map<string, string> {
  const out = new Map<string, string>()
  const xattrs = new Map<string, string>()
  // getfattr -R dumps every xattr (trusted.* too, as root); entries without any are absent
  const dump = spawnSync("getfattr", ["-R", "-P", "-d", "-m", "-", "-e", "hex", "."], { cwd: root, encoding: "utf8" }).stdout
  for (const block of dump.split("\n\n")) {
    const [head, ...attrs] = block.trim().split("\n")
    if (head?.startsWith("# file: ")) xattrs.set(head.slice(8).replace(/^\.\//, ""), attrs.sort().join(","))
  }
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`
      const p = join(root, r)
      const st = lstatSync(p)
      const type = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : st.isFile() ? "file" : "other"
      const extra = st.isFile() ? `${st.size} ${createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16)}` : st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : ""
      out.set(r, `${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${extra} ${xattrs.get(r) ?? ""}`.trim())
      if (st.isDirectory()) walk(r)
    }
  }
  walk("")
  return out
}

describe.skipIf(why !== undefined)("cairn build vs buildah bud", () => {
  let dir: string
  let engine: Engine
  let bh: Array<string>
  const buildah = (...args: Array<string>) => execFileSync("buildah", [...bh, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 })
  beforeAll(async () => {
    // lowercase: buildah takes an oci: path as a reference name
    dir = join(tmpdir(), `cairn-engine-peer-${randomBytes(6).toString("hex")}`)
    mkdirSync(dir)
    bh = ["--root", join(dir, "bh-root"), "--runroot", join(dir, "bh-run"), "--storage-driver", "vfs"]
    buildLayout(join(dir, "base"), "bb", [busyboxLayer, { files: { "etc/motd": "hi\n", "opt/old/a": "a\n", "opt/old/b": "b\n", "usr/keep": "k\n" } }], { Cmd: ["sh"], Env: ["PATH=/bin:/usr/bin"] })
    engine = await Engine.open({ root: join(dir, "root") })
    await engine.importImage(`oci:${join(dir, "base")}:bb`, "localhost/base:latest")
    buildah("pull", "-q", `oci:${join(dir, "base")}:bb`)
    const id = buildah("images", "-q").trim().split("\n")[0]!
    buildah("tag", id, "localhost/base:latest")
  })
  afterAll(async () => {
    await engine?.close()
    spawnSync("buildah", [...(bh ?? []), "rm", "--all"], { stdio: "ignore" })
    rmSync(dir, { recursive: true, force: true })
  })

  const compare = async (name: string, containerfile: string, files: Record<string, string>, buildArgs: Record<string, string> = {}) => {
    const ctx = join(dir, `ctx-${name}`)
    for (const [p, c] of Object.entries({ ...files, Containerfile: containerfile })) {
      mkdirSync(join(ctx, p, ".."), { recursive: true })
      writeFileSync(join(ctx, p), c)
    }
    const args = Object.entries(buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`])
    buildah("bud", "--isolation", "chroot", "--layers", "-q", ...args, "-t", `localhost/${name}:peer`, ctx)
    buildah("push", "-q", `localhost/${name}:peer`, `oci:${join(dir, `oci-${name}`)}:peer`)
    execFileSync("umoci", ["raw", "unpack", "--image", `${join(dir, `oci-${name}`)}:peer`, join(dir, `peer-${name}`)])
    await engine.build(ctx, { tags: [`${name}:cairn`], buildArgs })
    await engine.unpack(`${name}:cairn`, join(dir, `cairn-${name}`))
    const theirs = entries(join(dir, `peer-${name}`))
    const ours = entries(join(dir, `cairn-${name}`))
    const diff: Array<string> = []
    for (const k of new Set([...theirs.keys(), ...ours.keys()])) {
      // buildah's chroot isolation leaves its RUN mount points in the layer (empty files, an empty
      // /run); docker's builder and cairn leave none
      const placeholder = /^(etc\/(hostname|hosts|resolv\.conf): file 755 0:0 0 e3b0c44298fc1c14|run: dir 755 0:0)$/
      if (!ours.has(k) && placeholder.test(`${k}: ${theirs.get(k)}`)) continue
      if (theirs.get(k) !== ours.get(k)) diff.push(`${k}: buildah ${theirs.get(k) ?? "(absent)"} | cairn ${ours.get(k) ?? "(absent)"}`)
    }
    expect(diff).toEqual([])
    const peerIndex = JSON.parse(readFileSync(join(dir, `oci-${name}`, "index.json"), "utf8"))
    const blob = (d: string) => JSON.parse(readFileSync(join(dir, `oci-${name}`, "blobs", "sha256", d.slice(7)), "utf8"))
    const peerConfig = blob(blob(peerIndex.manifests[0].digest).config.digest)
    const ourConfig = (await engine.inspectImage(`${name}:cairn`)).config
    const fields = (c: { config?: Record<string, unknown> }) => {
      const { Labels, ...rest } = c.config ?? {}
      const { "io.buildah.version": _, ...labels } = (Labels ?? {}) as Record<string, string>
      return { ...rest, ...(Object.keys(labels).length > 0 ? { Labels: labels } : {}) }
    }
    expect(fields(ourConfig as never)).toEqual(fields(peerConfig))
    expect((ourConfig.history ?? []).map((h) => h.empty_layer === true)).toEqual((peerConfig.history as Array<{ empty_layer?: boolean }>).map((h) => h.empty_layer === true))
    return ours
  }

  it("single stage: ARG/ENV/LABEL/WORKDIR, COPY with globs, --chown and .dockerignore, RUN that adds, changes and deletes", async () => {
    const ours = await compare(
      "single",
      [
        "FROM localhost/base:latest",
        "ARG WHO=world",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Containerfile syntax
        'ENV GREETING="hello ${WHO}" APP=/app',
        'LABEL org.example.a="x y"',
        "WORKDIR /app",
        "COPY app/*.txt ./",
        "COPY --chown=nobody:nogroup app/sub /data/",
        'RUN echo "$GREETING" > greeting && rm /etc/motd && rm -rf /opt/old && mkdir /opt/old && echo new > /opt/old/c && ln -s /app/greeting /opt/link && chmod 0700 /opt/old && echo changed >> /usr/keep',
        "USER nobody",
        "EXPOSE 8080",
        "STOPSIGNAL SIGTERM",
        'ENTRYPOINT ["/bin/sh", "-c"]',
        "CMD echo hi",
        ""
      ].join("\n"),
      { "app/one.txt": "one\n", "app/two.txt": "two\n", "app/skip.log": "x\n", "app/sub/three.txt": "3\n", "app/sub/x.log": "x\n", ".dockerignore": "**/*.log\n" },
      { WHO: "peer" }
    )
    expect(ours.get("data/three.txt")).toMatch(/^file 644 65534:65534 /)
    expect(ours.has("data/x.log")).toBe(false)
    expect(ours.has("etc/motd")).toBe(false)
  })

  it("multi-stage: COPY --from a builder stage", async () => {
    await compare(
      "multi",
      "FROM localhost/base:latest AS build\nRUN mkdir -p /out/d && echo built > /out/d/artifact && chmod 0600 /out/d/artifact\nFROM localhost/base:latest\nCOPY --from=build /out /srv/\nRUN rm -rf /opt/old/a\n",
      {}
    )
  })
})
