// Child process of crash.test.ts: loops an operation on an engine root until SIGKILLed.
// Runs the built package (dist), as a real CLI process would.
import { writeFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Engine } from "@cairn/engine"

const [root, op, source] = process.argv.slice(2)
// the kernel driver directly: auto would probe every driver with test mounts first
const engine = await Engine.open({ root, driver: "overlay" })
process.stdout.write("ready\n")
if (op === "import-once") {
  // a race partner: import one image and exit (crash.test.ts runs two of these at once)
  const img = await engine.importImage(`oci:${source}:img2`, `racer${process.pid}`)
  process.stdout.write(`${JSON.stringify(img)}\n`)
  process.exit(0)
}
for (let i = 0; ; i++) {
  if (op === "import") {
    const name = `crash${i % 4}`
    await engine.importImage(`oci:${source}:img${i % 3}`, name)
    await engine.removeImage(name).catch(() => {})
  } else {
    const [c] = await engine.listContainers()
    if (c.mounted) await engine.unmountContainer(c.id)
    const mp = await engine.mountContainer(c.id)
    writeFileSync(join(mp, `f${i % 5}.txt`), `iteration ${i}\n`.repeat(200))
    rmSync(join(mp, "etc", "motd"), { force: true })
    await engine.unmountContainer(c.id)
    await engine.commitContainer(c.id, { name: `commit${i % 3}`, message: `iteration ${i}` })
    if (i % 2 === 1) await engine.removeImage(`commit${i % 3}`).catch(() => {})
  }
}
