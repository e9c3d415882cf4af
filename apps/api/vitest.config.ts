import { defineProject } from "vitest/config"

export default defineProject({
  ssr: { resolve: { conditions: ["@cairn/source"] } },
  test: { name: "api", include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 180_000 }
})
