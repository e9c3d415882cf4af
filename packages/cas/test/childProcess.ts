// The child processes of the multi-process tests: a script of test/child/ run on the built package,
// speaking one JSON object per stdout line.
import { execFileSync, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

/** Builds the package once per test file (Node 20 cannot run the TypeScript sources in a child). */
export const buildForChildren = () => execFileSync("npx", ["tsc", "-b"], { cwd: join(here, ".."), stdio: "inherit" })

/** Children started and not yet exited, so a failed or timed-out test leaves none behind (killChildren). */
const live = new Set<ReturnType<typeof spawn>>()

/** SIGKILLs every child still running: call it in afterEach, so a test that failed or timed out leaves no process behind. */
export function killChildren(): void {
  for (const p of live) p.kill("SIGKILL")
  live.clear()
}

/**
 * Starts `test/child/<script>` with `args`; `onLine` sees each line as it comes (`lines` holds them). `done` resolves
 * with every line when the child exits 0, and rejects naming the exit code or signal and stderr.
 */
export function startChild<L>(script: string, args: string[], onLine: (l: L) => void = () => {}) {
  const p = spawn(process.execPath, [join(here, "child", script), ...args], { stdio: ["pipe", "pipe", "pipe"] })
  live.add(p)
  p.on("exit", () => live.delete(p))
  const lines: L[] = []
  let buf = ""
  let err = ""
  p.stderr.on("data", (c: Buffer) => {
    err += c.toString()
  })
  p.stdout.on("data", (c: Buffer) => {
    buf += c.toString()
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const l = JSON.parse(buf.slice(0, nl)) as L
      buf = buf.slice(nl + 1)
      lines.push(l)
      onLine(l)
    }
  })
  const done = new Promise<L[]>((resolve, reject) => {
    p.on("error", reject)
    p.on("exit", (code, signal) =>
      code === 0 ? resolve(lines) : reject(new Error(`child ${script} ${args.at(-1)} failed (${signal === null ? code : `killed by ${signal}`}): ${err.trim()}`))
    )
  })
  done.catch(() => {}) // awaited by the test; a failure while it awaits something else is not unhandled
  return { p, done, lines }
}
