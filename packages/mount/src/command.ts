import { execFile } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import * as Effect from "effect/Effect"
import { ToolMissingError } from "./errors.js"

export interface CommandResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

export interface CommandOptions {
  readonly cwd?: string
  readonly timeoutMs?: number
}

/**
 * Runs a program without a shell (execFile: arguments are never parsed). A non-zero exit is
 * a result, not a failure, so each caller maps it to its own typed error; a missing binary
 * is ToolMissingError. Interruption kills the child.
 */
export const runCommand = (
  file: string,
  args: ReadonlyArray<string>,
  options: CommandOptions = {}
): Effect.Effect<CommandResult, ToolMissingError> =>
  Effect.callback<CommandResult, ToolMissingError>((resume, signal) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 30_000,
        signal,
        encoding: "utf8",
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, LC_ALL: "C" }
      },
      (error, stdout, stderr) => {
        if (error === null) return resume(Effect.succeed({ exitCode: 0, stdout, stderr }))
        const code = (error as NodeJS.ErrnoException).code
        if (code === "ENOENT" && typeof error.code === "string") return resume(Effect.fail(new ToolMissingError({ tool: file })))
        const exitCode = typeof code === "number" ? code : 1
        resume(Effect.succeed({ exitCode, stdout, stderr: stderr || error.message }))
      }
    )
  })

/** `command arg arg` for messages (quoted where needed). */
export const describeCommand = (file: string, args: ReadonlyArray<string>): string =>
  [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ")

/** The executable `name` on PATH (the sbin dirs when PATH is unset), or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter)) {
    if (dir === "") continue
    const p = join(dir, name)
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {}
  }
  return undefined
}
