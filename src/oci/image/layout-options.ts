/**
 * The zod schemas of the image layout's options, in their own module: `openImageLayout` and
 * `resolve` check the common options by hand (`./layout.ts`) and import this module (and zod)
 * only to parse what that check does not accept, or for `importImage`.
 *
 * @module
 */
import { z } from 'zod';
import { loggerSchema, signalSchema } from '../../internal/schemas.js';

/** Options of {@link openImageLayout}. */
export const imageLayoutOptionsSchema = z.strictObject({
  /**
   * Where diagnostics go.
   * @defaultValue a silent logger
   */
  logger: loggerSchema.optional(),
  /**
   * Largest manifest, index or config blob read into memory, in bytes.
   * @defaultValue 8 MiB
   */
  maxDocumentBytes: z.number().int().positive().default(8 * 1024 * 1024),
  /**
   * Create an empty layout (`oci-layout`, `index.json`, `blobs/`) when `dir` has none.
   * @defaultValue false
   */
  create: z.boolean().default(false),
});

/** Options of {@link ImageLayout.resolve}. */
export const resolveImageOptionsSchema = z.strictObject({
  /**
   * The platform to pick from an index: `os/arch[/variant]` or an object.
   * @defaultValue `linux/amd64`
   */
  platform: z
    .union([z.string().min(1), z.strictObject({ os: z.string().min(1), architecture: z.string().min(1), variant: z.string().min(1).optional() })])
    .default('linux/amd64'),
  /**
   * Cancels the resolution.
   * @defaultValue none
   */
  signal: signalSchema.optional(),
});

/** Options of {@link ImageLayout.importImage}. */
export const importImageOptionsSchema = z.strictObject({
  /**
   * Import only the index entries this reference names (same forms as `resolve`, except image ids).
   * @defaultValue every entry of the source
   */
  reference: z.string().min(1).optional(),
  /**
   * The `org.opencontainers.image.ref.name` to store the imported entries under.
   * @defaultValue the source's names
   */
  as: z.string().min(1).optional(),
  /**
   * Cancels the import (a partly copied blob is removed).
   * @defaultValue none
   */
  signal: signalSchema.optional(),
});
