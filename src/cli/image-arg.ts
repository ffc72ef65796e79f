/**
 * `--image DIR[:REF]`: the image layout and the reference in it. Its own module, so `lxcri unpack`
 * loads no CRI validation (nor zod) with it.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openImageLayout } from '../oci/image/layout.js';
import type { ResolvedImage } from '../oci/image/layout.js';
import type { CliIo } from './types.js';
import { UsageError } from './util.js';

/** Splits `DIR[:REF]` at the leftmost colon whose left side is an image layout. */
function splitImageArg(value: string, cwd: string): { dir: string; ref?: string } {
  const isLayout = (dir: string): boolean => dir !== '' && existsSync(join(resolve(cwd, dir), 'oci-layout'));
  if (isLayout(value)) return { dir: value };
  // The leftmost colon whose left side is an image layout: the reference itself may hold colons
  // and slashes (docker.io/library/busybox:1.36, a sha256: digest).
  const colons = [...value.matchAll(/:/g)].map((m) => m.index);
  const at = colons.find((i) => isLayout(value.slice(0, i))) ?? colons[0];
  if (at === undefined) return { dir: value };
  const ref = value.slice(at + 1);
  return ref === '' ? { dir: value.slice(0, at) } : { dir: value.slice(0, at), ref };
}

/** Opens the image layout named by `--image DIR[:REF]` and resolves the reference in it. */
export async function resolveImageArg(io: CliIo, image: unknown, platform: unknown): Promise<ResolvedImage> {
  if (typeof image !== 'string' || image === '') throw new UsageError('--image DIR[:REF] is required');
  const { dir, ref } = splitImageArg(image, io.cwd);
  const layout = await openImageLayout(resolve(io.cwd, dir));
  return layout.resolve(ref, {
    ...(typeof platform === 'string' ? { platform } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  });
}
