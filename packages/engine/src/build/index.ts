// cairn build: Containerfile parsing, .dockerignore matching, COPY/ADD, RUN in crun, the build cache.
export { build, type BuildOptions, type BuildResult } from "./executor.js"
export { BuildSetupError, BuildStepError, BuildSyntaxError } from "./errors.js"
export { IgnoreMatcher } from "./ignore.js"
export { type Containerfile, type Instruction, parseContainerfile, stagesOf } from "./parser.js"
