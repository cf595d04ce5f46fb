/** Media types of the OCI image-spec and Docker's image manifest v2. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Manifest media types a registry stores and serves. */
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
]);

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

/**
 * Layers a registry need not hold: OCI non-distributable layers and Docker foreign
 * layers point at content that lives elsewhere.
 */
export function isNonDistributable(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.') ||
    mediaType === MediaType.dockerForeignLayer;
}

/** The media type of a `Content-Type` header, without parameters, lower-cased. */
export function baseMediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}
