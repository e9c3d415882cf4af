import { defineProject } from "vitest/config"

export default defineProject({
  // each package's install and example runs beside the others (mostly waiting on npm and I/O)
  test: { name: "packaging", include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000, maxConcurrency: 3 }
})
