// @cairn/oci-spec: the schemas of the documents (each also the TypeScript type of its name), and
// everything of @cairn/oci-spec/lazy (decoders, media types, conversion, platforms), which loads
// the schemas only at its first decode.
export * from "./lazy.js"
export { Annotations, Descriptor, DigestString, MediaTypeString, Size } from "./descriptor.js"
export { ImageManifest } from "./imageManifest.js"
export { ImageIndex } from "./imageIndex.js"
export { ContainerConfig, History, ImageConfig, RootFs } from "./imageConfig.js"
export { OciLayout } from "./ociLayout.js"
export { DockerManifest, DockerManifestList } from "./docker.js"
export { Platform } from "./platformSchema.js"
export { validateDocument } from "./validate.js"
