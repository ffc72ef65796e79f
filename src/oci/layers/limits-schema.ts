/**
 * The zod schema of the extraction limits (`./limits.ts` has their defaults without zod; this
 * module is imported where limits are passed in, or to report invalid ones).
 *
 * @module
 */
import { z } from 'zod';

/**
 * Limits applied to every layer. The defaults let real images through — the largest layers we
 * know of are a few GiB uncompressed (CUDA, PyTorch, database images; up to ~10 GiB) and a few
 * hundred thousand entries (a full TeX Live tree is roughly 200,000 files; a Debian base layer
 * 5,000–10,000) — and stop a compression bomb or an entry flood within seconds (docs/images.md).
 */
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
   * Inflation-ratio guard: once a layer has expanded past `inflationRatioAfterBytes`, it
   * may not expand to more than this many times its compressed (blob) size. Real layers compress
   * 2–10×; only long runs of one byte (zeros) reach 100×. `0` turns the guard off.
   * @defaultValue 100
   */
  maxInflationRatio: z.number().int().nonnegative().default(100),
  /**
   * Uncompressed bytes a layer may always expand to, whatever its ratio.
   * @defaultValue 1 GiB
   */
  inflationRatioAfterBytes: z.number().int().nonnegative().default(1024 ** 3),
  /**
   * Free-space guard: extraction stops before the filesystem of the target has fewer free bytes
   * (for unprivileged users) than this. `0` turns it off.
   * @defaultValue 512 MiB
   */
  minFreeBytes: z.number().int().nonnegative().default(512 * 1024 ** 2),
  /**
   * Free-space guard for inodes: extraction stops before the target filesystem has fewer free
   * inodes than this (not checked on filesystems that report no inode counts). `0` turns it off.
   * @defaultValue 10,000
   */
  minFreeInodes: z.number().int().nonnegative().default(10_000),
  /**
   * Most tar entries in one layer.
   * @defaultValue 500,000
   */
  maxEntries: z.number().int().positive().default(500_000),
  /**
   * Entry-flood guard: past `entryDensityAfter` entries, a layer must carry at least this
   * many compressed bytes per entry. A flood of empty files compresses to 6–8 bytes per entry;
   * the headers alone of real trees (`/usr/share`, `/usr/lib` with every file emptied) to 22–30
   * with gzip -9, and real layers carry content besides. `0` turns the guard off.
   * @defaultValue 12
   */
  minCompressedBytesPerEntry: z.number().int().nonnegative().default(12),
  /**
   * Entries a layer may always have, however densely packed.
   * @defaultValue 50,000
   */
  entryDensityAfter: z.number().int().nonnegative().default(50_000),
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
