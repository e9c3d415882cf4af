// RUN: one process in a real container. The step's overlay is the bundle's rootfs; crun (or runc)
// runs it with the stage's env, user, workdir, no network unless asked. crun refuses a host that
// mounts cgroup v2 beside v1 ("hybrid mode"): then it runs in a private mount namespace without
// /sys/fs/cgroup/unified, and always without a cgroup manager (a build step needs no limits).
import { spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { mkdir, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { ImageConfig } from "@cairn/oci-spec/lazy"
import { runtimeSpec } from "../runtimeSpec.js"

export interface RunOptions {
  /** the mounted overlay: the container's root */
  readonly rootfs: string
  /** a scratch dir for the bundle (removed afterwards) */
  readonly bundleDir: string
  readonly config: ImageConfig
  readonly args: ReadonlyArray<string>
  /** extra env (the stage's ARGs), after the config's */
  readonly env: ReadonlyArray<string>
  readonly network: "none" | "host"
  readonly onOutput: (chunk: Buffer, stream: "stdout" | "stderr") => void
}

let runtime: string | undefined
/** crun, else runc (the first on PATH). */
export function findRuntime(): string | undefined {
  if (runtime !== undefined) return runtime
  for (const r of ["crun", "runc"]) {
    if (spawnSync("sh", ["-c", `command -v ${r}`]).status === 0) return (runtime = r)
  }
  return undefined
}

/** Whether /sys/fs/cgroup/unified is a cgroup2 mount beside v1 (crun refuses that). */
const hybridCgroups = (): boolean => {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === "/sys/fs/cgroup/unified")
  } catch {
    return false
  }
}

/** Mount points the runtime creates in the rootfs; removed after the step when they were not there before. */
const MOUNT_POINTS = ["proc", "dev", "sys"]

/** Runs the step; resolves with the exit code. The container is deleted whatever happens. */
export async function runInContainer(o: RunOptions): Promise<number> {
  const rt = findRuntime()
  if (rt === undefined) throw new Error("no OCI runtime: install crun (Debian package crun) or runc")
  const created = MOUNT_POINTS.filter((d) => !existsSync(join(o.rootfs, d)))
  const spec = (await runtimeSpec(o.config, o.rootfs, { args: o.args, hostname: "cairn-build" })) as {
    process: { env: Array<string> }
    root: { path: string; readonly: boolean }
    linux: { namespaces: Array<{ type: string }> }
  }
  spec.process.env = mergeEnv(spec.process.env, o.env)
  spec.root = { path: o.rootfs, readonly: false }
  if (o.network === "host") spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== "network")
  await mkdir(o.bundleDir, { recursive: true })
  await writeFile(join(o.bundleDir, "config.json"), JSON.stringify(spec))
  const id = `cairn-build-${process.pid}-${randomBytes(4).toString("hex")}`
  const runArgs = ["--cgroup-manager=disabled", "run", "--bundle", o.bundleDir, id]
  const [cmd, args] =
    rt === "crun" && hybridCgroups()
      ? ["unshare", ["-m", "--propagation", "private", "sh", "-c", `umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"`, "sh", rt, ...runArgs]]
      : rt === "crun"
        ? [rt, runArgs]
        : [rt, ["run", "--bundle", o.bundleDir, id]]
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(cmd, args as Array<string>, { stdio: ["ignore", "pipe", "pipe"] })
      child.stdout.on("data", (c: Buffer) => o.onOutput(c, "stdout"))
      child.stderr.on("data", (c: Buffer) => o.onOutput(c, "stderr"))
      child.on("error", reject)
      child.on("close", (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + (signalNumber(signal) ?? 1))))
    })
  } finally {
    spawnSync(rt, ["delete", "-f", id], { stdio: "ignore" })
    for (const d of created) await rm(join(o.rootfs, d), { recursive: true, force: true }).catch(() => {})
    await rm(o.bundleDir, { recursive: true, force: true })
  }
}

const signalNumber = (s: string): number | undefined => ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 })[s]

/** Env entries NAME=value: later entries replace earlier ones of the same name. */
export function mergeEnv(base: ReadonlyArray<string>, extra: ReadonlyArray<string>): Array<string> {
  const out = [...base]
  for (const e of extra) {
    const name = e.slice(0, e.indexOf("="))
    const i = out.findIndex((x) => x.slice(0, x.indexOf("=")) === name)
    if (i >= 0) out[i] = e
    else out.push(e)
  }
  return out
}
