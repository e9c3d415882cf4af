// One "pull" of a blob into a store from a separate process, as the registry client does it:
// has → ingestOffset → resume from there, or put from the start. Uses the built dist.
// Usage: node pullChild.mjs <storeDir> <k> <size> <mode>; mode "slow": the source yields the first
// half, then waits for a line on stdin before the rest ("partial" is printed once the first half is
// on disk; the line "die" kills the process there, as kill -9 mid-download would); mode "pull": resume when the store holds part of the blob, else put; mode "put": put.
import { Store } from "../../dist/index.js"
import { blobData } from "./blobData.mjs"

const [dir, kText, sizeText, mode] = process.argv.slice(2)
const data = blobData(Number(kText), Number(sizeText))
const desc = { digest: blobData.digest(data), size: data.length }
const store = await Store.open(dir)
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)

let result
if (mode === "slow") {
  const half = data.length >> 1
  async function* source() {
    yield data.subarray(0, half)
    // the first half is handed to the store: tell the parent once it is on disk, then wait for it
    while ((await store.ingestOffset(desc.digest)) < half) await new Promise((r) => setImmediate(r))
    say({ partial: half })
    const word = await new Promise((r) => process.stdin.once("data", (b) => r(b.toString().trim())))
    if (word === "die") process.kill(process.pid, "SIGKILL")
    yield data.subarray(half)
  }
  result = await store.put(desc, source())
} else if (mode === "pull") {
  if (await store.has(desc.digest)) result = { skipped: true }
  else {
    const offset = await store.ingestOffset(desc.digest)
    say({ offset })
    result = offset > 0 ? await store.resume(desc, offset, [data.subarray(offset)]) : await store.put(desc, [data])
  }
} else result = await store.put(desc, [data])
say({ done: true, result })
process.stdin.destroy()
