/**
 * Resource limits of layer extraction (compression bombs, entry floods, absurd paths): their
 * types and defaults, without zod (a cold `lxcri unpack` loads none); the schema that documents
 * and checks them is `./limits-schema.ts`.
 *
 * @module
 */
import type { z } from 'zod';
import type { extractionLimitsSchema } from './limits-schema.js';

/** Extraction limits (what callers pass). */
export type ExtractionLimits = z.input<typeof extractionLimitsSchema>;
/** Extraction limits after defaults. */
export type ResolvedExtractionLimits = z.output<typeof extractionLimitsSchema>;

/** The defaults of every limit (the schema's: a test pins them equal). */
export const DEFAULT_EXTRACTION_LIMITS: Readonly<ResolvedExtractionLimits> = Object.freeze({
  maxLayerBytes: 32 * 1024 ** 3,
  maxImageBytes: 64 * 1024 ** 3,
  maxInflationRatio: 100,
  inflationRatioAfterBytes: 1024 ** 3,
  minFreeBytes: 512 * 1024 ** 2,
  minFreeInodes: 10_000,
  maxEntries: 500_000,
  minCompressedBytesPerEntry: 12,
  entryDensityAfter: 50_000,
  maxPathBytes: 4096,
  maxPathDepth: 256,
  maxMetaBytes: 1024 * 1024,
});
