import { defineProject } from "vitest/config"

export default defineProject({
  // workspace siblings resolve to their src/ (no build needed to test)
  ssr: { resolve: { conditions: ["@cairn/source"] } },
  test: { name: "digest", include: ["test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 }
})
