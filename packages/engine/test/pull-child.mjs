// Child process of pullStream.test.ts: pulls one reference into a root until SIGKILLed (or done).
// Runs the built package (dist), as a real CLI process would.
import { Engine } from "@cairn/engine"

const [root, ref] = process.argv.slice(2)
const engine = await Engine.open({ root, driver: "overlay" })
process.stdout.write("ready\n")
const img = await engine.pull(ref, "pulled:1")
process.stdout.write(`${JSON.stringify(img)}\n`)
process.exit(0)
