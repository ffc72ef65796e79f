/**
 * Platforms (`os/architecture[/variant]`) and which image of an index serves one, as containerd
 * picks (its `platforms` package): architecture aliases (`x86_64` → `amd64`, `aarch64` →
 * `arm64`), a default variant per architecture (`amd64` v1, `arm64` v8, `arm` v7), and a host of
 * variant N also runs the lower variants of `amd64` and `arm`, the nearest first. One set of rules
 * for the image layout's `resolve`, the registry pull, and the store's index entries and
 * `removeImage`.
 *
 * @module
 */
import { InvalidOptionsError } from '../../errors.js';
import type { OciDescriptor } from './types.js';

/** A platform to select from an index: `linux/amd64`, `linux/arm64/v8`, or an object. */
export type PlatformSpec = string | { os: string; architecture: string; variant?: string | undefined };

/** A parsed platform. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A platform as documents carry it (a variant may be given as `undefined`). */
export type PlatformLike = { os: string; architecture: string; variant?: string | undefined };

const ARCH_ALIASES: Readonly<Record<string, string>> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm' };
const DEFAULT_VARIANT: Readonly<Record<string, string>> = { amd64: 'v1', arm64: 'v8', arm: 'v7' };
/** Architectures whose variant `vN` also runs the images of lower variants. */
const BACKWARD_COMPATIBLE = new Set(['amd64', 'arm']);

const archOf = (architecture: string): string => ARCH_ALIASES[architecture] ?? architecture;

/** Parses `os/arch[/variant]` (or an object) into a platform (architecture aliases resolved). */
export function parsePlatform(spec: PlatformSpec): Platform {
  if (typeof spec !== 'string') {
    return { os: spec.os, architecture: archOf(spec.architecture), ...(spec.variant === undefined ? {} : { variant: spec.variant }) };
  }
  const parts = spec.split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || (parts.length === 3 && !variant)) {
    throw new InvalidOptionsError(`platform '${spec}' must be os/architecture[/variant]`, { issues: [{ path: 'platform', message: 'must be os/architecture[/variant]' }] });
  }
  return { os, architecture: archOf(architecture), ...(variant ? { variant } : {}) };
}

const level = (variant: string | undefined): number | undefined => {
  const m = variant === undefined ? undefined : /^v(\d+)$/.exec(variant);
  return m ? Number(m[1]) : undefined;
};

/**
 * How well an image of platform `have` serves `want`: 0 for the same platform (variant defaults
 * applied), N for a variant N below the wanted one (`amd64`, `arm`), `undefined` when it cannot.
 */
export function platformRank(want: PlatformLike, have: PlatformLike): number | undefined {
  if (have.os !== want.os) return undefined;
  const arch = archOf(want.architecture);
  if (archOf(have.architecture) !== arch) return undefined;
  const wanted = want.variant ?? DEFAULT_VARIANT[arch];
  const offered = have.variant ?? DEFAULT_VARIANT[arch];
  if (wanted === offered) return 0;
  if (!BACKWARD_COMPATIBLE.has(arch)) return undefined;
  const w = level(wanted);
  const o = level(offered);
  return w !== undefined && o !== undefined && o < w ? w - o : undefined;
}

/** Whether two platforms are the same once aliases and default variants apply (`arm64` is `arm64/v8`). */
export function samePlatform(a: PlatformLike, b: PlatformLike): boolean {
  return platformRank(a, b) === 0;
}

/**
 * The entries of an index that serve a platform best: those with a platform of the lowest
 * {@link platformRank} (all of them when they tie, so two images of one platform stay
 * ambiguous) and those without one (their config decides), in index order.
 */
export function bestForPlatform(descriptors: readonly OciDescriptor[], want: PlatformLike): OciDescriptor[] {
  const ranks = new Map<OciDescriptor, number | undefined>(descriptors.map((d) => [d, d.platform ? platformRank(want, d.platform) : -1]));
  const found = [...ranks.values()].filter((r): r is number => r !== undefined && r >= 0);
  const best = found.length > 0 ? Math.min(...found) : undefined;
  return descriptors.filter((d) => {
    const rank = ranks.get(d);
    return rank === -1 || (rank !== undefined && rank === best);
  });
}
