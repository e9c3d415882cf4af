// Media types of OCI image-spec v1.1 (media-types.md) and their Docker v2 equivalents
// (distribution/manifest/schema2 docs).
import { type Digest, parseDigest } from "@cairn/digest"

/** OCI image-spec v1.1 media types. */
export const OciMediaType = {
  Descriptor: "application/vnd.oci.descriptor.v1+json",
  LayoutHeader: "application/vnd.oci.layout.header.v1+json",
  ImageIndex: "application/vnd.oci.image.index.v1+json",
  ImageManifest: "application/vnd.oci.image.manifest.v1+json",
  ImageConfig: "application/vnd.oci.image.config.v1+json",
  Layer: "application/vnd.oci.image.layer.v1.tar",
  LayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  LayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** Deprecated in v1.1 (layer.md): readable, never written by cairn. */
  LayerNonDistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  LayerNonDistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  LayerNonDistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  Empty: "application/vnd.oci.empty.v1+json"
} as const

/** Docker image manifest v2 schema 2 media types. */
export const DockerMediaType = {
  Manifest: "application/vnd.docker.distribution.manifest.v2+json",
  ManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ImageConfig: "application/vnd.docker.container.image.v1+json",
  Layer: "application/vnd.docker.image.rootfs.diff.tar",
  LayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  ForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar",
  ForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  PluginConfig: "application/vnd.docker.plugin.v1+json"
} as const

export type OciMediaType = (typeof OciMediaType)[keyof typeof OciMediaType]
export type DockerMediaType = (typeof DockerMediaType)[keyof typeof DockerMediaType]

/**
 * The well-known empty JSON descriptor (manifest.md "Guidance for an Empty Descriptor"):
 * the two bytes `{}`, used as config of artifacts that have none.
 */
export const EmptyJsonDescriptor: {
  readonly mediaType: typeof OciMediaType.Empty
  readonly digest: Digest
  readonly size: 2
  readonly data: "e30="
} = {
  mediaType: OciMediaType.Empty,
  digest: parseDigest("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
  size: 2,
  data: "e30="
}

/** The content of the `oci-layout` file this library writes (image-layout.md). */
export const OCI_LAYOUT_VERSION = "1.0.0"

/** Media types a manifest (a single image or artifact) is served with. */
export const isManifestMediaType = (mediaType: string): boolean =>
  mediaType === OciMediaType.ImageManifest || mediaType === DockerMediaType.Manifest

/** Media types of an index / manifest list (a set of manifests, usually one per platform). */
export const isIndexMediaType = (mediaType: string): boolean =>
  mediaType === OciMediaType.ImageIndex || mediaType === DockerMediaType.ManifestList

/** Media types of image configs (the runtime config + rootfs diff_ids). */
export const isConfigMediaType = (mediaType: string): boolean =>
  mediaType === OciMediaType.ImageConfig || mediaType === DockerMediaType.ImageConfig

export type LayerCompression = "gzip" | "zstd" | "none"

const layerCompressions: Readonly<Record<string, LayerCompression>> = {
  [OciMediaType.Layer]: "none",
  [OciMediaType.LayerGzip]: "gzip",
  [OciMediaType.LayerZstd]: "zstd",
  [OciMediaType.LayerNonDistributable]: "none",
  [OciMediaType.LayerNonDistributableGzip]: "gzip",
  [OciMediaType.LayerNonDistributableZstd]: "zstd",
  [DockerMediaType.Layer]: "none",
  [DockerMediaType.LayerGzip]: "gzip",
  [DockerMediaType.ForeignLayer]: "none",
  [DockerMediaType.ForeignLayerGzip]: "gzip"
}

/** True for the tar layer media types (OCI, non-distributable, Docker, Docker foreign). */
export const isLayerMediaType = (mediaType: string): boolean => Object.hasOwn(layerCompressions, mediaType)

/** Compression of a layer media type; `undefined` when it is not a layer media type. */
export const layerCompression = (mediaType: string): LayerCompression | undefined =>
  Object.hasOwn(layerCompressions, mediaType) ? layerCompressions[mediaType] : undefined

/** Layers whose content may not be pushed to other registries (OCI non-distributable, Docker foreign). */
export const isNonDistributable = (mediaType: string): boolean =>
  mediaType === OciMediaType.LayerNonDistributable ||
  mediaType === OciMediaType.LayerNonDistributableGzip ||
  mediaType === OciMediaType.LayerNonDistributableZstd ||
  mediaType === DockerMediaType.ForeignLayer ||
  mediaType === DockerMediaType.ForeignLayerGzip

/**
 * A descriptor whose blob a store or registry may lack: a non-distributable (foreign) layer that
 * names where to fetch it (`urls`). Every other descriptor, `urls` or not, must be present
 * (image-spec descriptor.md: `urls` is only an alternative location).
 */
export const mayBeAbsent = (descriptor: { readonly mediaType: string; readonly urls?: readonly string[] | undefined }): boolean =>
  isNonDistributable(descriptor.mediaType) && descriptor.urls !== undefined && descriptor.urls.length > 0

/** Docker media type -> OCI media type, for the types that have an OCI counterpart. */
export const dockerToOciMediaType: Readonly<Record<string, OciMediaType>> = {
  [DockerMediaType.Manifest]: OciMediaType.ImageManifest,
  [DockerMediaType.ManifestList]: OciMediaType.ImageIndex,
  [DockerMediaType.ImageConfig]: OciMediaType.ImageConfig,
  [DockerMediaType.Layer]: OciMediaType.Layer,
  [DockerMediaType.LayerGzip]: OciMediaType.LayerGzip,
  [DockerMediaType.ForeignLayerGzip]: OciMediaType.LayerNonDistributableGzip
}

/** OCI media type -> Docker media type, the inverse of {@link dockerToOciMediaType}. */
export const ociToDockerMediaType: Readonly<Record<string, DockerMediaType>> = Object.fromEntries(
  Object.entries(dockerToOciMediaType).map(([docker, oci]) => [oci, docker as DockerMediaType])
)
