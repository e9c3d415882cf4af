// Child process of build.test.ts: runs one build with the built package (dist), streaming RUN's
// output to stdout, until the test SIGKILLs it mid-step.
import { Engine } from "@cairn/engine"

const [root, context] = process.argv.slice(2)
const engine = await Engine.open({ root, driver: "overlay" })
await engine.build(context, { onOutput: (c) => process.stdout.write(c) })
await engine.close()
