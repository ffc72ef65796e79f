/**
 * The zod schema of `unpackImage`'s options, imported only for options the hand check of
 * `./unpack-image.ts` does not accept (`limits`, or invalid input to report).
 *
 * @module
 */
import { z } from 'zod';
import { callbackSchema, loggerSchema, signalSchema } from '../../internal/schemas.js';
import { extractionLimitsSchema } from './limits-schema.js';
import type { ProgressCallback } from './unpack-image.js';

const progressSchema = callbackSchema<ProgressCallback>();

/** Options of `unpackImage`. */
export const unpackImageOptionsSchema = z.strictObject({
  /**
   * Unprivileged extraction: no chown (owners recorded in the `user.rootlesscontainers` xattr as
   * umoci does), block/char devices become empty regular files (FIFOs stay FIFOs); `security.*`
   * (file capabilities) and `trusted.*` xattrs are dropped with a warning, as umoci's rootless
   * mode does, also when the process could set them (root, or root in a user namespace).
   * @defaultValue true when not running as root, else false
   */
  rootless: z.boolean().optional(),
  /**
   * Keep setuid/setgid bits and file capabilities (`security.capability`) from the layers.
   * @defaultValue true
   */
  allowSetuid: z.boolean().default(true),
  /**
   * Resource limits (compression bombs, entry floods).
   * @defaultValue see {@link ExtractionLimits}
   */
  limits: extractionLimitsSchema.default(extractionLimitsSchema.parse({})),
  /**
   * Where diagnostics go.
   * @defaultValue a silent logger
   */
  logger: loggerSchema.optional(),
  /**
   * Cancels the extraction (what was written is removed).
   * @defaultValue none
   */
  signal: signalSchema.optional(),
  /**
   * Called as layers are read and applied.
   * @defaultValue none
   */
  onProgress: progressSchema.optional(),
});
