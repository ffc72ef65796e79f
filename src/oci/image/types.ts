/**
 * OCI image-spec documents (descriptor, index, manifest, config) as zod schemas, and the media
 * types this package understands (OCI and Docker v2 schema 2).
 *
 * Unknown fields never cause an error (the spec says they MUST NOT); `null` for an optional field
 * is read as "absent". The schemas give the precise message of an invalid document; valid ones
 * are checked without zod by `./documents.ts`, which loads this module only for invalid input.
 *
 * @module
 */
import { z } from 'zod';

export { MEDIA_TYPES, layerCompression, type LayerCompression } from './media-types.js';

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
