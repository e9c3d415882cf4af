// A separate process that puts one blob in two halves, as a download would: it writes the first
// half, says so, and writes the rest only after "go" on stdin (or dies there when told "die").
// Usage: node halfPut.mjs <storeDir> <k> <size>. Uses the built dist.
import { Store } from "../../dist/index.js"
import { blobData } from "./blobData.mjs"

const [dir, k, size] = process.argv.slice(2)
const store = await Store.open(dir)
const data = blobData(Number(k), Number(size))
const half = data.length >> 1
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
async function* source() {
  yield data.subarray(0, half)
  say({ half })
  const word = await new Promise((r) => process.stdin.once("data", (b) => r(b.toString().trim())))
  if (word === "die") process.kill(process.pid, "SIGKILL")
  yield data.subarray(half)
}
const r = await store.put({ digest: blobData.digest(data), size: data.length }, source())
say({ done: true, created: r.created })
process.exit(0)
