/**
 * The image layout store against real layout directories written here: reference forms, nested
 * indexes and platform choice, Docker v2 schema 2 media types, media-type confusion, blob
 * verification, schema validation of what the store reads, and import from a layout or an
 * oci-archive.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AjvDraft04 from 'ajv-draft-04';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openImageLayout } from '../../../../src/index.js';
import { sha256Digest, unpackImage } from '../../../../src/exports/oci.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';
import { available, referencePath } from '../../../helpers/requirements.js';

vi.setConfig({ testTimeout: 60_000 });

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-layout-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

let n = 0;
const fresh = (): string => join(work, `l${++n}`);

function putBlob(dir: string, value: unknown): { digest: string; size: number } {
  const data = Buffer.from(JSON.stringify(value));
  const digest = sha256Digest(data);
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

/** A layout whose index.json holds one index of two platform manifests (amd64, arm64 v8). */
async function multiPlatform(dir: string): Promise<{ amd64: string; arm64: string; index: string }> {
  const amdTar = await packTar([{ name: 'arch', content: 'amd64' }]);
  const { manifestDigest: amd64 } = writeImageLayout(dir, [{ tar: amdTar }], { ref: 'tmp' });
  const armTar = await packTar([{ name: 'arch', content: 'arm64' }]);
  const armDir = `${dir}-arm`;
  const { manifestDigest: arm64 } = writeImageLayout(armDir, [{ tar: armTar }], { ref: 'tmp', architecture: 'arm64' });
  for (const f of readdirSync(join(armDir, 'blobs', 'sha256'))) writeFileSync(join(dir, 'blobs', 'sha256', f), readFileSync(join(armDir, 'blobs', 'sha256', f)));
  const size = (d: string): number => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7))).length;
  const index = putBlob(dir, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd64, size: size(amd64), platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm64, size: size(arm64), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  });
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'docker.io/library/busybox:1.36' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd64, size: size(amd64), annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
      ],
    }),
  );
  return { amd64, arm64, index: index.digest };
}

describe('ImageLayout.resolve', () => {
  it('resolves ref names, short and full names, digests, image ids and platforms', async () => {
    const dir = fresh();
    const { amd64, arm64 } = await multiPlatform(dir);
    const layout = await openImageLayout(dir);
    const viaShort = await layout.resolve('busybox:1.36');
    expect(viaShort.manifestDigest).toBe(amd64);
    expect(viaShort.config.architecture).toBe('amd64');
    expect((await layout.resolve('docker.io/library/busybox:1.36')).manifestDigest).toBe(amd64);
    expect((await layout.resolve('busybox:1.36', { platform: 'linux/arm64' })).manifestDigest).toBe(arm64);
    expect((await layout.resolve('busybox:1.36', { platform: { os: 'linux', architecture: 'aarch64', variant: 'v8' } })).manifestDigest).toBe(arm64);
    expect((await layout.resolve('v1')).manifestDigest).toBe(amd64);
    expect((await layout.resolve(amd64)).manifestDigest).toBe(amd64);
    expect((await layout.resolve(`busybox@${amd64}`)).manifestDigest).toBe(amd64);
    const image = await layout.resolve('v1');
    expect((await layout.resolve(image.configDigest)).manifestDigest).toBe(amd64);
    expect((await layout.resolve(image.configDigest.slice(7, 19))).manifestDigest).toBe(amd64);
    expect(image.diffIds).toHaveLength(1);
    expect(image.chainIds).toEqual(image.diffIds);
    await expect(layout.resolve('busybox:1.36', { platform: 'linux/s390x' })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(layout.resolve('nginx')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(layout.resolve('busybox', { platform: 'linux' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    // unknown option keys are named in the error
    await expect(layout.resolve('v1', { platfrom: 'linux/amd64' } as never)).rejects.toThrow(/platfrom/);
    const aborted = new AbortController();
    aborted.abort();
    await expect(layout.resolve('v1', { signal: aborted.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('needs a reference when the layout holds several images, and finds the only one without', async () => {
    const dir = fresh();
    await multiPlatform(dir);
    await expect((await openImageLayout(dir)).resolve()).resolves.toMatchObject({ manifestDigest: expect.stringMatching(/^sha256:/) as string });
    const two = fresh();
    writeImageLayout(two, [{ tar: await packTar([{ name: 'a', content: 'a' }]) }], {
      extraIndexEntries: [JSON.parse(readFileSync(join(two.replace(/l\d+$/, `l${n - 1}`), 'index.json'), 'utf8')).manifests[1]],
    });
    const only = fresh();
    writeImageLayout(only, [{ tar: await packTar([{ name: 'a', content: 'a' }]) }], { ref: 'solo' });
    expect((await (await openImageLayout(only)).resolve()).reference).toBe('solo');
  });

  it('reads Docker v2 schema 2 manifests and configs', async () => {
    const dir = fresh();
    const data = await packTar([{ name: 'docker', content: 'yes' }]);
    const { manifestDigest } = writeImageLayout(dir, [{ tar: data, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }]);
    const manifest = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8')) as Record<string, unknown> & { config: Record<string, unknown> };
    manifest['mediaType'] = 'application/vnd.docker.distribution.manifest.v2+json';
    manifest.config['mediaType'] = 'application/vnd.docker.container.image.v1+json';
    const blob = putBlob(dir, manifest);
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', ...blob, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
    const image = await (await openImageLayout(dir)).resolve('latest');
    const result = await unpackImage(image, join(dir, '..', `bundle-${n}`));
    expect(readFileSync(join(result.rootfs, 'docker'), 'utf8')).toBe('yes');
  });

  it('rejects media-type confusion, bad blobs, bad documents and bad layouts', async () => {
    const dir = fresh();
    const { manifestDigest } = writeImageLayout(dir, [{ tar: await packTar([{ name: 'f', content: 'x' }]) }]);
    const layout = await openImageLayout(dir);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Record<string, unknown>[] };
    const rewrite = (entry: Record<string, unknown>): void => writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
    const base = index.manifests[0] as Record<string, unknown>;
    // descriptor says index, blob is a manifest
    rewrite({ ...base, mediaType: 'application/vnd.oci.image.index.v1+json' });
    await expect(layout.resolve('latest')).rejects.toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'media type mismatch' } });
    // embedded mediaType differs from the descriptor (CVE-2021-41190)
    const manifest = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8')) as Record<string, unknown>;
    const confused = putBlob(dir, { ...manifest, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
    rewrite({ ...base, ...confused });
    await expect(layout.resolve('latest')).rejects.toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'media type mismatch' } });
    // size and digest of the manifest blob
    rewrite({ ...base, size: (base['size'] as number) + 1 });
    await expect(layout.resolve('latest')).rejects.toMatchObject({ details: { reason: 'size mismatch' } });
    rewrite({ ...base, digest: sha256Digest('other') });
    await expect(layout.resolve('latest')).rejects.toMatchObject({ details: { reason: 'missing blob' } });
    rewrite({ ...base, digest: 'sha256:../../../etc/passwd' });
    await expect(layout.resolve('latest')).rejects.toMatchObject({ details: { reason: 'malformed digest' } });
    // a manifest without layers
    const noLayers = putBlob(dir, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: manifest['config'] });
    rewrite({ ...base, ...noLayers });
    await expect(layout.resolve('latest')).rejects.toThrow(/layers/);
    // a config with another media type
    const weird = putBlob(dir, { ...manifest, config: { ...(manifest['config'] as object), mediaType: 'application/vnd.oci.empty.v1+json' } });
    rewrite({ ...base, ...weird });
    await expect(layout.resolve('latest')).rejects.toMatchObject({ details: { reason: 'media type mismatch' } });
    // layout files
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '2.0.0' }));
    await expect(openImageLayout(dir)).rejects.toMatchObject({ details: { reason: 'unsupported layout version' } });
    await expect(openImageLayout(join(work, 'nothing-here'))).rejects.toMatchObject({ details: { reason: 'not an image layout' } });
    await expect(openImageLayout(dir, { maxDocumentBytes: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });

  it('writes layouts whose documents validate against the image-spec schemas', async (ctx) => {
    const schemaDir = referencePath('OCI_IMAGE_SPEC_SCHEMA_DIR');
    if (schemaDir.skip !== undefined) return ctx.skip();
    const ajv = new AjvDraft04.default({ strict: false, allErrors: true });
    // the schemas' `id` URLs would re-base their relative $refs; keyed by file name they resolve locally
    const stripIds = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(stripIds);
      if (typeof value !== 'object' || value === null) return value;
      return Object.fromEntries(Object.entries(value).filter(([k, v]) => !(k === 'id' && typeof v === 'string')).map(([k, v]) => [k, stripIds(v)]));
    };
    for (const f of readdirSync(schemaDir.path).filter((x) => x.endsWith('.json'))) {
      ajv.addSchema(stripIds(JSON.parse(readFileSync(join(schemaDir.path, f), 'utf8'))) as object, f);
    }
    const dir = fresh();
    const imported = join(work, `store-${n}`);
    writeImageLayout(dir, [{ tar: await packTar([{ name: 'f', content: 'x' }]) }], { ref: 'app' });
    const store = await openImageLayout(imported, { create: true });
    await store.importImage(dir, { reference: 'app', as: 'example.com/app:1' });
    const image = await store.resolve('example.com/app:1');
    const check = (name: string, value: unknown): void => {
      const validate = ajv.getSchema(`${name}.json`);
      expect(validate, name).toBeDefined();
      expect(validate?.(value), JSON.stringify(validate?.errors)).toBe(true);
    };
    check('image-index-schema', JSON.parse(readFileSync(join(imported, 'index.json'), 'utf8')));
    check('image-layout-schema', JSON.parse(readFileSync(join(imported, 'oci-layout'), 'utf8')));
    check('image-manifest-schema', image.manifest);
    check('config-schema', image.config);
  });
});

describe('ImageLayout.importImage', () => {
  it('imports from another layout and from an oci-archive, verifying every blob', async () => {
    const src = fresh();
    writeImageLayout(src, [{ tar: await packTar([{ name: 'hello', content: 'world' }]), compression: 'zstd' }], { ref: 'v1' });
    const store = await openImageLayout(join(work, `store-${++n}`), { create: true });
    expect(await store.listImages()).toEqual([]);
    const added = await store.importImage(src, { reference: 'v1', as: 'docker.io/library/hello:v1' });
    expect(added).toHaveLength(1);
    const image = await store.resolve('hello:v1');
    const out = await unpackImage(image, join(work, `out-${n}`));
    expect(readFileSync(join(out.rootfs, 'hello'), 'utf8')).toBe('world');

    // the rest imports oci-archives made with GNU tar
    if (!available({ tools: ['tar'] }, 'importImage from an oci-archive')) return;
    const archive = join(work, `archive-${n}.tar`);
    execFileSync('tar', ['-C', src, '-cf', archive, '.']);
    const store2Dir = join(work, `store2-${n}`);
    const store2 = await openImageLayout(store2Dir, { create: true });
    await store2.importImage(archive);
    expect((await store2.resolve('v1')).manifestDigest).toBe(image.manifestDigest);
    expect(readdirSync(store2Dir).filter((f) => f.startsWith('.import'))).toEqual([]);

    // a tampered archive member is refused and leaves no staging dir
    const bad = fresh();
    writeImageLayout(bad, [{ tar: await packTar([{ name: 'x', content: 'x' }]) }], { ref: 'bad' });
    const blobDir = join(bad, 'blobs', 'sha256');
    const victim = readdirSync(blobDir)[0] as string;
    writeFileSync(join(blobDir, victim), 'tampered');
    const badArchive = join(work, `bad-${n}.tar`);
    execFileSync('tar', ['-C', bad, '-cf', badArchive, '.']);
    await expect(store2.importImage(badArchive)).rejects.toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'digest mismatch' } });
    expect(readdirSync(store2Dir).filter((f) => f.startsWith('.import'))).toEqual([]);
  });
});
