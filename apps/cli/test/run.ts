import { Writable } from "node:stream"
import { main } from "../src/index.js"

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const collector = () => {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(Buffer.from(c))
      cb()
    }
  })
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") }
}

/** Runs `cairn ARGS` in this process with captured output. */
export async function cairn(...args: string[]): Promise<RunResult> {
  const o = collector()
  const e = collector()
  const saved = process.exitCode
  process.exitCode = undefined
  try {
    const code = await main(args, { stdout: o.stream, stderr: e.stream })
    return { code, stdout: o.text(), stderr: e.text() }
  } finally {
    process.exitCode = saved
  }
}
