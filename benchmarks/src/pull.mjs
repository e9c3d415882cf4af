// cairn pull as its users get it: @cairn/engine over a fresh root, from a registry.
//   fetch  the engine's fetch path (transfer.ts fetchRemote, what `cairn copy docker://… ` moves
//          through): @cairn/registry pullImage into the root's @cairn/cas store under a lease, with
//          `verify: false` because the store's put checks size and digest before a blob is
//          visible, so each blob is hashed once; then tagged. The counterpart of `skopeo copy
//          docker://… oci:…`.
//   pull   Engine.pull: the same download, and each layer extracted in overlay form into its
//          snapshot as soon as its blob and the layers below are in, while later blobs still
//          download. The counterpart of `skopeo copy` followed by `umoci raw unpack`.

/** First line of an import failure, without the importer path. @param {unknown} e */
const short = (e) => String(/** @type {Error} */ (e).message).split("\n")[0].replace(/ imported from .*/, "")

/**
 * Why cairn pull cannot run yet, or undefined when the packages expose what it needs.
 * @param {(name: string) => string} [entry] where a package's entry module is (default: the installed one)
 */
export async function pullUnavailable(entry = (name) => `@cairn/${name}`) {
  try {
    const engine = await import(entry("engine"))
    const registry = await import(entry("registry"))
    if (typeof engine.Engine?.open !== "function") return "@cairn/engine does not export Engine.open() yet"
    if (typeof registry.pullImage !== "function" || typeof registry.RegistryClient !== "function") return "@cairn/registry does not export pullImage() and RegistryClient yet"
    return undefined
  } catch (e) {
    return `@cairn/engine or @cairn/registry cannot be loaded (not built? run npm run build): ${short(e)}`
  }
}

/** Loads what a pull needs (before the timed work starts in the worker). */
export async function loadPull() {
  const { Engine } = await import("@cairn/engine")
  const { pullImage, RegistryClient } = await import("@cairn/registry")
  return { Engine, pullImage, RegistryClient }
}

/**
 * Download only: blobs and manifest into the engine root's store, tagged `task.name`.
 * @param {{ reference: string, root: string, name: string }} task
 */
export async function fetchIntoEngine(task) {
  const { Engine, pullImage, RegistryClient } = await loadPull()
  const engine = await Engine.open({ root: task.root })
  // loopback registries get plain HTTP without asking, as skopeo gets --src-tls-verify=false
  const client = new RegistryClient()
  try {
    // the engine's image store: its sink(lease) is what the engine's own fetch path pulls into
    const images = engine.service.context.store
    return await images.withLease(async (/** @type {string} */ lease) => {
      const r = await pullImage(client, task.reference, images.sink(lease), { verify: false })
      const m = r.resolved.manifest
      await images.tag(task.name, { mediaType: m.mediaType, digest: m.digest, size: m.size })
      return { manifest: m.digest, bytesTransferred: r.bytesTransferred }
    })
  } finally {
    await client.close?.()
    await engine.close()
  }
}

/**
 * Download and unpack: Engine.pull into a fresh root.
 * @param {{ reference: string, root: string, name: string }} task
 */
export async function pullIntoEngine(task) {
  const { Engine } = await loadPull()
  const engine = await Engine.open({ root: task.root })
  try {
    const img = await engine.pull(task.reference, task.name)
    return { manifest: img.digest, layers: img.layers }
  } finally {
    await engine.close()
  }
}
