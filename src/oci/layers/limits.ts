/**
 * Resource limits of layer extraction (compression bombs, entry floods, absurd paths).
 *
 * @module
 */
import { z } from 'zod';

/** Limits applied to every layer. */
export const extractionLimitsSchema = z.strictObject({
  /**
   * Most uncompressed bytes one layer may expand to (tar stream incl. headers and trailing data).
   * @defaultValue 32 GiB
   */
  maxLayerBytes: z.number().int().positive().default(32 * 1024 ** 3),
  /**
   * Most uncompressed bytes of all layers of an image together.
   * @defaultValue 64 GiB
   */
  maxImageBytes: z.number().int().positive().default(64 * 1024 ** 3),
  /**
   * Most tar entries in one layer.
   * @defaultValue 2,000,000
   */
  maxEntries: z.number().int().positive().default(2_000_000),
  /**
   * Longest entry or link name, in bytes.
   * @defaultValue 4096
   */
  maxPathBytes: z.number().int().positive().default(4096),
  /**
   * Deepest entry path, in components.
   * @defaultValue 256
   */
  maxPathDepth: z.number().int().positive().default(256),
  /**
   * Largest PAX or GNU long-name record, in bytes.
   * @defaultValue 1 MiB
   */
  maxMetaBytes: z.number().int().positive().default(1024 * 1024),
});
/** Extraction limits (what callers pass). */
export type ExtractionLimits = z.input<typeof extractionLimitsSchema>;
/** Extraction limits after defaults. */
export type ResolvedExtractionLimits = z.output<typeof extractionLimitsSchema>;
