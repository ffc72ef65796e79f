/**
 * OCI image-spec documents (descriptor, index, manifest, config) as zod schemas, and the media
 * types this package understands (OCI and Docker v2 schema 2).
 *
 * Unknown fields never cause an error (the spec says they MUST NOT); `null` for an optional field
 * is read as "absent".
 *
 * @module
 */
import { z } from 'zod';
import { ImageError } from '../../errors.js';

/** Media types of the OCI image-spec and their Docker v2 schema 2 equivalents. */
export const MEDIA_TYPES = {
  ociLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributableTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** How a layer blob is compressed. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

const LAYER_COMPRESSION: ReadonlyMap<string, LayerCompression> = new Map<string, LayerCompression>([
  [MEDIA_TYPES.ociLayerTar, 'none'],
  [MEDIA_TYPES.ociLayerGzip, 'gzip'],
  [MEDIA_TYPES.ociLayerZstd, 'zstd'],
  [MEDIA_TYPES.ociLayerNondistributableTar, 'none'],
  [MEDIA_TYPES.ociLayerNondistributableGzip, 'gzip'],
  [MEDIA_TYPES.ociLayerNondistributableZstd, 'zstd'],
  [MEDIA_TYPES.dockerLayerGzip, 'gzip'],
  [MEDIA_TYPES.dockerForeignLayerGzip, 'gzip'],
  [MEDIA_TYPES.dockerLayerTar, 'none'],
]);

/**
 * The compression of a layer media type.
 * @throws ImageError for a media type that is not a known layer type
 */
export function layerCompression(mediaType: string): LayerCompression {
  const compression = LAYER_COMPRESSION.get(mediaType);
  if (compression === undefined) {
    throw new ImageError(`unsupported layer media type '${mediaType.slice(0, 200)}'`, { reason: 'unsupported media type' });
  }
  return compression;
}

const nonNegativeSafeInt = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** Platform of a manifest in an index. */
export const ociPlatformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
});
/** Platform of a manifest in an index. */
export type OciPlatform = z.output<typeof ociPlatformSchema>;

/** A content descriptor. */
export const ociDescriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: z.string(),
  size: nonNegativeSafeInt,
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: ociPlatformSchema.optional(),
  artifactType: z.string().optional(),
});
/** A content descriptor. */
export type OciDescriptor = z.output<typeof ociDescriptorSchema>;

/** An image index (or Docker manifest list). */
export const ociIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(ociDescriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});
/** An image index (or Docker manifest list). */
export type OciIndex = z.output<typeof ociIndexSchema>;

/** An image manifest (or Docker v2 schema 2 manifest). */
export const ociManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: ociDescriptorSchema,
  layers: z.array(ociDescriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});
/** An image manifest (or Docker v2 schema 2 manifest). */
export type OciManifest = z.output<typeof ociManifestSchema>;

/** The execution parameters of an image config (`config` field). */
export const ociImageRunConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: z.record(z.string(), z.unknown()).optional(),
  Env: z.array(z.string()).optional(),
  Entrypoint: z.array(z.string()).optional(),
  Cmd: z.array(z.string()).optional(),
  Volumes: z.record(z.string(), z.unknown()).optional(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).optional(),
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
});
/** The execution parameters of an image config (`config` field). */
export type OciImageRunConfig = z.output<typeof ociImageRunConfigSchema>;

/** One entry of an image config's `history`. */
export const ociHistorySchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  created_by: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
/** One entry of an image config's `history`. */
export type OciHistory = z.output<typeof ociHistorySchema>;

/** The OCI image configuration (image-spec `config.md`), as parsed from the config blob. */
export const ociImageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: ociImageRunConfigSchema.optional(),
  rootfs: z.looseObject({
    type: z.string(),
    diff_ids: z.array(z.string()),
  }),
  history: z.array(ociHistorySchema).optional(),
});
/** The OCI image configuration (image-spec `config.md`), as parsed from the config blob. */
export type OciImageConfig = z.output<typeof ociImageConfigSchema>;

/** Replaces `null` by "absent" in an object and in its nested plain objects (depth-limited). */
function dropNulls(value: unknown, depth = 0): unknown {
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => dropNulls(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null) out[k] = dropNulls(v, depth + 1);
  }
  return out;
}

/**
 * Parses a JSON document with a schema, turning failures into an `ImageError` that names the field.
 */
export function parseDocument<S extends z.ZodType>(schema: S, value: unknown, what: string, details: { digest?: string; path?: string } = {}): z.output<S> {
  const result = schema.safeParse(dropNulls(value));
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue ? issue.path.map(String).join('.') : '';
    throw new ImageError(`${what} is not valid: ${field ? `${field}: ` : ''}${issue?.message ?? 'invalid'}`, { ...details, reason: 'invalid document' });
  }
  return result.data;
}
