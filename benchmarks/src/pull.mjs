// cairn pull: @cairn/registry pulling an image into a @cairn/cas store (the BlobSink contract),
// the counterpart of `skopeo copy docker://... oci:...`.
import { access } from "node:fs/promises"

/** First line of an import failure, without the importer path. @param {unknown} e */
const short = (e) => String(/** @type {Error} */ (e).message).split("\n")[0].replace(/ imported from .*/, "")

/** Why cairn pull cannot run yet, or undefined when both packages expose what it needs. */
/** @param {(name: string) => string} [entry] where a package's entry module is (default: the installed one) */
export async function pullUnavailable(entry = (name) => `@cairn/${name}`) {
  try {
    const registry = await import(entry("registry"))
    const cas = await import(entry("cas"))
    if (typeof registry.pullImage !== "function" || typeof registry.RegistryClient !== "function") return "@cairn/registry does not export pullImage() and RegistryClient yet"
    if (typeof cas.Store?.open !== "function") return "@cairn/cas does not export Store.open() yet"
    return undefined
  } catch (e) {
    return `@cairn/registry or @cairn/cas cannot be loaded (not built? run npm run build): ${short(e)}`
  }
}

/** @param {{ reference: string, store: string, layers: Array<{ digest: string }> }} task */
export async function pullToSink(task) {
  const { pullImage, RegistryClient } = await import("@cairn/registry")
  const { Store } = await import("@cairn/cas")
  const store = await Store.open(task.store)
  // loopback registries get plain HTTP, as skopeo gets --src-tls-verify=false
  const client = new RegistryClient({ plainHttp: true })
  try {
    const result = await pullImage(client, task.reference, store)
    for (const l of task.layers) await access(`${task.store}/blobs/sha256/${l.digest.slice(7)}`)
    return { manifest: result.digest, bytesTransferred: result.bytesTransferred }
  } finally {
    await client.close?.()
    await store.close?.()
  }
}
