/**
 * One set of platform rules, containerd's, for the image layout's resolve, the registry pull's
 * index choice and the store's removal: aliases, default variants (amd64 v1, arm64 v8, arm v7),
 * lower variants of amd64 and arm as fallbacks (the nearest first), never a higher one; two
 * images of one platform stay ambiguous; the store keeps one index entry per name and platform.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout } from '../../../../src/index.js';
import { bestForPlatform, parsePlatform, platformRank } from '../../../../src/oci/image/platform.js';
import { addIndexEntry, removeImage } from '../../../../src/oci/registry/store.js';
import type { OciDescriptor } from '../../../../src/oci/image/types.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';

const M = 'application/vnd.oci.image.manifest.v1+json';
const linux = (architecture: string, variant?: string): { os: string; architecture: string; variant?: string } => ({ os: 'linux', architecture, ...(variant ? { variant } : {}) });

describe('platformRank', () => {
  it('the same platform is 0, with aliases and default variants applied', () => {
    expect(platformRank(parsePlatform('linux/amd64'), linux('amd64'))).toBe(0);
    expect(platformRank(parsePlatform('linux/x86_64'), linux('amd64', 'v1'))).toBe(0);
    expect(platformRank(parsePlatform('linux/amd64/v1'), linux('x86_64'))).toBe(0);
    expect(platformRank(parsePlatform('linux/arm64'), linux('arm64', 'v8'))).toBe(0);
    expect(platformRank(parsePlatform('linux/aarch64/v8'), linux('arm64'))).toBe(0);
    expect(platformRank(parsePlatform('linux/arm'), linux('arm', 'v7'))).toBe(0);
    expect(platformRank(parsePlatform('linux/s390x'), linux('s390x'))).toBe(0);
  });

  it('a lower amd64 or arm variant serves a higher host, the nearest ranking first; never a higher one', () => {
    expect(platformRank(parsePlatform('linux/amd64/v3'), linux('amd64', 'v2'))).toBe(1);
    expect(platformRank(parsePlatform('linux/amd64/v3'), linux('amd64'))).toBe(2);
    expect(platformRank(parsePlatform('linux/amd64'), linux('amd64', 'v3'))).toBeUndefined();
    expect(platformRank(parsePlatform('linux/arm/v7'), linux('arm', 'v6'))).toBe(1);
    expect(platformRank(parsePlatform('linux/arm/v6'), linux('arm', 'v7'))).toBeUndefined();
    expect(platformRank(parsePlatform('linux/arm64'), linux('arm64', 'v9'))).toBeUndefined();
  });

  it('another os or architecture never serves', () => {
    expect(platformRank(parsePlatform('linux/amd64'), { os: 'windows', architecture: 'amd64' })).toBeUndefined();
    expect(platformRank(parsePlatform('linux/amd64'), linux('arm64'))).toBeUndefined();
    expect(platformRank(parsePlatform('linux/amd64'), { os: 'unknown', architecture: 'unknown' })).toBeUndefined();
  });

  it('bestForPlatform keeps the best entries with a platform (ties included) and those without one, in index order', () => {
    const d = (n: number, platform?: ReturnType<typeof linux>): OciDescriptor => ({ mediaType: M, digest: `sha256:${String(n).repeat(64)}`, size: 1, ...(platform ? { platform } : {}) });
    const entries = [d(1, linux('amd64', 'v3')), d(2), d(3, linux('amd64', 'v2')), d(4, linux('amd64')), d(5, linux('amd64', 'v2')), d(6, linux('arm64'))];
    expect(bestForPlatform(entries, parsePlatform('linux/amd64/v3')).map((e) => e.digest[7])).toEqual(['1', '2']);
    expect(bestForPlatform(entries.slice(1), parsePlatform('linux/amd64/v3')).map((e) => e.digest[7])).toEqual(['2', '3', '5']);
    expect(bestForPlatform(entries, parsePlatform('linux/amd64')).map((e) => e.digest[7])).toEqual(['2', '4']);
    expect(bestForPlatform(entries, parsePlatform('linux/riscv64')).map((e) => e.digest[7])).toEqual(['2']);
  });
});

describe('ImageLayout.resolve picks a variant as containerd does', () => {
  let work: string;
  const digests: Record<string, string> = {};

  /** One index of images for these platforms (each image's config says its platform). */
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-platform-'));
    const dir = join(work, 'layout');
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    const platforms = [linux('amd64'), linux('amd64', 'v3'), linux('arm', 'v6'), linux('arm', 'v7')];
    const entries: OciDescriptor[] = [];
    for (const [i, p] of platforms.entries()) {
      const one = join(work, `one-${i}`);
      const key = [p.architecture, p.variant].filter(Boolean).join('/');
      const { manifestDigest } = writeImageLayout(one, [{ tar: await packTar([{ name: 'which', content: key }]) }], { ref: 'x', architecture: p.architecture, config: { ...(p.variant ? { variant: p.variant } : {}) } });
      for (const f of readdirSync(join(one, 'blobs', 'sha256'))) writeFileSync(join(dir, 'blobs', 'sha256', f), readFileSync(join(one, 'blobs', 'sha256', f)));
      digests[key] = manifestDigest;
      entries.push({ mediaType: M, digest: manifestDigest, size: readFileSync(join(dir, 'blobs', 'sha256', manifestDigest.slice(7))).length, platform: p });
    }
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    // the image index written by `skopeo copy --all`: one entry, the platforms under it
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }));
    const { createHash } = await import('node:crypto');
    const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
    writeFileSync(join(dir, 'blobs', 'sha256', indexDigest.slice(7)), index);
    writeFileSync(
      join(dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }),
    );
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the exact variant, else the nearest lower one; an amd64 host is not given a v3 image', async () => {
    const layout = await openImageLayout(join(work, 'layout'));
    const pick = async (platform: string): Promise<string> => (await layout.resolve('multi', { platform })).manifestDigest;
    // these four were "matches 2 images" before: a variant left out matched every variant
    expect(await pick('linux/amd64')).toBe(digests['amd64']);
    expect(await pick('linux/amd64/v3')).toBe(digests['amd64/v3']);
    expect(await pick('linux/arm')).toBe(digests['arm/v7']);
    expect(await pick('linux/arm/v8')).toBe(digests['arm/v7']);
    expect(await pick('linux/amd64/v2')).toBe(digests['amd64']);
    expect(await pick('linux/arm/v6')).toBe(digests['arm/v6']);
    await expect(pick('linux/arm/v5')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(pick('linux/arm64')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });
});

describe('the store keeps one index entry per name and platform, defaults applied', () => {
  it('addIndexEntry replaces arm64 by arm64/v8 (and keeps another platform); removeImage takes them by the same rule', async () => {
    const work = mkdtempSync(join(tmpdir(), 'lxcri-platform-store-'));
    try {
      const dir = join(work, 'store');
      const { manifestDigest } = writeImageLayout(dir, [{ tar: await packTar([{ name: 'f', content: 'x' }]) }], { ref: 'seed' });
      const layout = await openImageLayout(dir);
      const entry = (platform: ReturnType<typeof linux>): OciDescriptor => ({ mediaType: M, digest: manifestDigest, size: 1, platform });
      await addIndexEntry(layout, 'docker.io/library/app:1', entry(linux('arm64')), undefined);
      await addIndexEntry(layout, 'docker.io/library/app:1', entry(linux('amd64')), undefined);
      await addIndexEntry(layout, 'docker.io/library/app:1', entry(linux('aarch64', 'v8')), undefined);
      const platforms = (await layout.readIndex()).manifests.filter((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'docker.io/library/app:1').map((d) => d.platform);
      expect(platforms).toEqual([linux('amd64'), linux('aarch64', 'v8')]);
      const removed = await removeImage(layout, 'docker.io/library/app:1', { platform: 'linux/arm64' });
      expect(removed).toHaveLength(1);
      expect((await layout.readIndex()).manifests.map((d) => d.platform?.architecture)).toEqual([undefined, 'amd64']);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
