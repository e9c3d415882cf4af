// Typed failures of `cairn build`: each names the Containerfile line (and column) it comes from.
import * as Data from "effect/Data"

const at = (file: string, line: number, column?: number) => `${file}:${line}${column === undefined ? "" : `:${column}`}`

/** The Containerfile cannot be parsed, or uses syntax cairn does not support. */
export class BuildSyntaxError extends Data.TaggedError("BuildSyntaxError")<{
  readonly file: string
  readonly line: number
  readonly column: number
  readonly reason: string
}> {
  override get message() {
    return `${at(this.file, this.line, this.column)}: ${this.reason}`
  }
}

/** A build step failed: a RUN that exited non-zero, a COPY source that is missing, an ARG used without a value. */
export class BuildStepError extends Data.TaggedError("BuildStepError")<{
  readonly file: string
  readonly line: number
  /** "STEP 3/7" in the build's numbering */
  readonly step: number
  readonly steps: number
  readonly instruction: string
  readonly reason: string
  /** a RUN's exit code */
  readonly exitCode?: number
}> {
  override get message() {
    return `${at(this.file, this.line)}: step ${this.step}/${this.steps} \`${this.instruction}\` failed: ${this.reason}`
  }
}

/** The build cannot start: no Containerfile, an unknown --target, a context that is not a directory, not root. */
export class BuildSetupError extends Data.TaggedError("BuildSetupError")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}
