// A separate process driving a store, for the crash and concurrency tests. Uses the built dist.
// Usage: node storeChild.mjs <mode> <storeDir> <arg>. Prints one JSON line per step so the
// parent knows what was in flight when it killed us.
import { Store } from "../../dist/index.js"
import { blobData, manifestFor } from "./blobData.mjs"

const [mode, dir, arg] = process.argv.slice(2)
const store = await Store.open(dir)
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
say({ ready: true })

if (mode === "mixed") {
  // put, tag and gc interleaved, for kills that land anywhere; waits for "go" so the parent can
  // start the process (slow on a loaded machine) before it needs it
  await new Promise((r) => process.stdin.once("data", r))
  say({ go: true })
  const target = (await store.resolve("base")).digest
  // arg "from,phase": the phase picks which operation comes first, so kills land in all three
  const [from, phase] = arg.split(",").map(Number)
  for (let k = from; ; k++) {
    const op = ["put", "tag", "gc"][(k - from + phase) % 3]
    say({ op, k })
    if (op === "put") {
      const data = blobData(k, (1 + (k % 3)) << 18)
      // a trickling source, like a download: kills land mid-ingest and leave partial bytes
      async function* trickle() {
        for (let o = 0; o < data.length; o += 32 << 10) {
          yield data.subarray(o, o + (32 << 10))
          await new Promise((r) => setTimeout(r, 2))
        }
      }
      await store.put({ digest: blobData.digest(data), size: data.length }, trickle())
    } else if (op === "tag") await store.tag(`t${k % 7}`, target)
    else await store.gc()
  }
} else if (mode === "worker") {
  // concurrency: put an overlapping set of blobs, a manifest per blob, and tag each
  const [id, from, to] = arg.split(",").map(Number)
  const results = []
  await store.put("{}") // the empty config every manifest names
  for (let k = from; k < to; k++) {
    const data = blobData(k, 256 << 10)
    const layer = await store.put(data, { digest: blobData.digest(data) })
    const m = manifestFor(layer.digest, layer.size)
    const man = await store.put(m.bytes, { digest: m.digest })
    await store.tag(`w${id}-${k}`, { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: man.digest, size: man.size })
    results.push({ k, digest: layer.digest, created: layer.created, manifest: man.digest, manifestCreated: man.created })
  }
  say({ done: true, results })
}
