/**
 * unpackImage's options and the extraction limits without zod: the hand check accepts only what
 * the schema accepts, with the same result; anything else gets the schema's error; and a cold
 * `lxcri unpack` loads no zod.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../../../src/errors.js';
import { silentLogger } from '../../../../src/logger.js';
import { DEFAULT_EXTRACTION_LIMITS } from '../../../../src/oci/layers/limits.js';
import { extractionLimitsSchema } from '../../../../src/oci/layers/limits-schema.js';
import { fastUnpackOptions, unpackImage } from '../../../../src/oci/layers/unpack-image.js';
import { unpackImageOptionsSchema } from '../../../../src/oci/layers/unpack-options.js';
import type { ResolvedImage } from '../../../../src/oci/image/layout.js';
import { parseOptions } from '../../../../src/options.js';
import { caught } from '../../../helpers/caught.js';
import { modulesLoadedBy, zodFiles } from '../../../helpers/loaded-modules.js';

describe('unpackImage options without zod', () => {
  it('the default limits are the schema’s', () => {
    expect(DEFAULT_EXTRACTION_LIMITS).toStrictEqual(extractionLimitsSchema.parse({}));
  });

  it('accepts the usual options with the schema’s result', () => {
    const signal = new AbortController().signal;
    const onProgress = (): void => undefined;
    for (const input of [{}, { rootless: true }, { rootless: false, allowSetuid: false }, { logger: silentLogger, signal, onProgress }, { rootless: undefined, signal: undefined }]) {
      // (toEqual: zod keeps a key given as undefined, the hand check drops it; both mean unset)
      expect(fastUnpackOptions(input)).toEqual(unpackImageOptionsSchema.parse(input));
    }
  });

  it('leaves limits, unknown keys and wrong types to the schema, whose error the caller gets', async () => {
    const image = {} as ResolvedImage;
    for (const bad of [{ rootless: 'yes' }, { allowSetuid: 1 }, { logger: {} }, { signal: 'stop' }, { onProgress: 5 }, { limits: { maxEntries: -1 } }, { unknown: true }]) {
      expect(fastUnpackOptions(bad)).toBeUndefined();
      const error = await caught(unpackImage(image, '/nonexistent/never-made', bad as never));
      expect(error).toBeInstanceOf(InvalidOptionsError);
      const expected = await caught(Promise.resolve().then(() => parseOptions(unpackImageOptionsSchema, bad, 'unpackImage options')));
      expect((error as Error).message).toBe((expected as Error).message);
    }
    // limits within range go through the schema and are kept
    expect(fastUnpackOptions({ limits: { maxEntries: 10 } })).toBeUndefined();
  });

  it('a cold `lxcri unpack` loads no zod (the command, the unpacker, the layout)', () => {
    const { files, stderr } = modulesLoadedBy(['src/cli/commands/unpack.ts', 'src/oci/layers/unpack-image.ts']);
    expect(stderr).toBe('');
    expect(files.some((f) => f.includes('/src/oci/layers/decompress.ts'))).toBe(true);
    expect(zodFiles(files)).toEqual([]);
  });
});
