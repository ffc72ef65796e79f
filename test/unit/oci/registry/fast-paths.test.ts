/**
 * The pull's hand-written checks (options, index / manifest / config documents) against the zod
 * schemas they stand in for: what they accept, the schema accepts with the same result; what they
 * refuse goes to the schema, whose error is the one a caller sees; and a pull's modules load no zod.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageError, InvalidOptionsError } from '../../../../src/errors.js';
import { fastImageDocument, parseDocument, readImageDocument } from '../../../../src/oci/image/documents.js';
import { ociImageConfigSchema, ociIndexSchema, ociManifestSchema } from '../../../../src/oci/image/types.js';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { imageLayoutOptionsSchema, resolveImageOptionsSchema } from '../../../../src/oci/image/layout-options.js';
import { parseOptions } from '../../../../src/options.js';
import { pullImageOptionsSchema } from '../../../../src/oci/registry/options.js';
import { fastPullOptions, pullImage } from '../../../../src/oci/registry/pull.js';
import { silentLogger } from '../../../../src/logger.js';
import { caught } from '../../../helpers/caught.js';
import { modulesLoadedBy, zodFiles } from '../../../helpers/loaded-modules.js';

const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Same value and the same key order at every level (what JSON.stringify writes back). */
const sameJson = (a: unknown, b: unknown): void => {
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  expect(a).toStrictEqual(b);
};

describe('pull options without zod', () => {
  const signal = new AbortController().signal;
  const valid: unknown[] = [
    { store: '/s' },
    // what `lxcri pull` passes
    { store: '/s', platform: 'linux/amd64', auth: { env: {}, authFile: '/a.json' }, tls: { caFile: '/ca.pem' }, insecureRegistries: ['h:5000'], concurrency: 6, signal, onProgress: () => undefined },
    { store: { dir: '/s' }, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, tls: { ca: ['PEM'] }, logger: silentLogger, timeoutMs: 5, headersTimeoutMs: 6, bodyTimeoutMs: 7, userAgent: 'x' },
    // what ensureImage passes on: the resolved options
    { store: '/s', retry: { retries: 0, minDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: 0 }, insecureRegistries: [], concurrency: 1, timeoutMs: 1, headersTimeoutMs: 1, bodyTimeoutMs: 1, userAgent: 'u' },
    { store: '/s', retry: { retries: 2 }, tls: { ca: 'PEM' }, auth: {} },
  ];
  it.each(valid.map((v, i) => [i, v]))('accepts #%s as the schema does, defaults included', (_, input) => {
    const fast = fastPullOptions(input);
    expect(fast).toBeDefined();
    expect(fast).toStrictEqual(pullImageOptionsSchema.parse(input));
  });

  const refused: unknown[] = [
    undefined,
    { store: '' },
    { store: '/s', bogus: 1 },
    { store: '/s', concurrency: 0 },
    { store: '/s', concurrency: 33 },
    { store: '/s', concurrency: 1.5 },
    { store: '/s', platform: '' },
    { store: '/s', platform: { os: 'linux', architecture: 'amd64', extra: 1 } },
    { store: '/s', auth: { username: 'u', password: 'p' } },
    { store: '/s', tls: { ca: [] } },
    { store: '/s', signal: {} },
    { store: '/s', onProgress: 'no' },
    { store: '/s', retry: { retries: 21 } },
    { store: '/s', logger: {} },
    { store: '/s', timeoutMs: 0 },
  ];
  it.each(refused.map((v, i) => [i, v]))('leaves #%s to the schema', (_, input) => {
    expect(fastPullOptions(input)).toBeUndefined();
  });

  it('still reports invalid options through the schema, every field named', async () => {
    const error = await caught(pullImage('localhost:1/x:y', { store: '/s', concurrency: 0, platform: '' } as never));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toBe('invalid pullImage options: platform: Too small: expected string to have >=1 characters; concurrency: Too small: expected number to be >=1');
  });
});

describe('image documents without zod', () => {
  const descriptor = (n: number, extra: object = {}): Record<string, unknown> => ({ digest: d(n), size: n, ...extra, mediaType: LAYER });
  const manifest = {
    extra: { kept: null, deep: [null, 1] },
    schemaVersion: 2,
    layers: [descriptor(2, { annotations: { a: 'b' }, urls: ['https://x'], 'x-other': 1 }), descriptor(3, { annotations: null })],
    config: { size: 4, mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(4) },
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
  };
  const index = {
    manifests: [descriptor(5, { platform: { variant: 'v8', architecture: 'arm64', os: 'linux', 'os.features': ['f'] } }), descriptor(6, { platform: null })],
    schemaVersion: 2,
    annotations: { 'org.opencontainers.image.ref.name': 'v1' },
  };
  const config = {
    rootfs: { diff_ids: [d(7)], type: 'layers' },
    os: 'linux',
    architecture: 'amd64',
    created: '2026-01-01T00:00:00Z',
    config: { Env: ['A=1'], Cmd: null, ExposedPorts: { '80/tcp': {} }, Labels: { l: 'v' }, ArgsEscaped: true, Volumes: { '/v': {} } },
    history: [{ created_by: 'x', empty_layer: true }, { comment: 'c', other: [] }],
    'moby.extra': { x: 1 },
  };
  it('reads valid documents as the schemas do: same values, same key order, nulls dropped', async () => {
    sameJson(fastImageDocument('manifest', manifest), parseDocument(ociManifestSchema, manifest, 'm'));
    sameJson(fastImageDocument('index', index), parseDocument(ociIndexSchema, index, 'i'));
    sameJson(fastImageDocument('config', config), parseDocument(ociImageConfigSchema, config, 'c'));
    sameJson(await readImageDocument('manifest', manifest, 'm'), parseDocument(ociManifestSchema, manifest, 'm'));
  });

  const invalid: [string, 'index' | 'manifest' | 'config', unknown][] = [
    ['a manifest of schemaVersion 1', 'manifest', { ...manifest, schemaVersion: 1 }],
    ['a negative size', 'manifest', { ...manifest, layers: [descriptor(2, { size: -1 })] }],
    ['a fractional size', 'manifest', { ...manifest, config: { ...manifest.config, size: 1.5 } }],
    ['an annotation that is not a string', 'index', { ...index, annotations: { a: 1 } }],
    ['manifests that are not an array', 'index', { ...index, manifests: {} }],
    ['a platform without os', 'index', { ...index, manifests: [descriptor(5, { platform: { architecture: 'amd64' } })] }],
    ['a config without rootfs', 'config', { ...config, rootfs: undefined }],
    ['an Env of numbers', 'config', { ...config, config: { Env: [1] } }],
    ['not an object', 'config', [config]],
  ];
  it.each(invalid)('leaves %s to the schema, whose error is thrown', async (_, kind, value) => {
    expect(fastImageDocument(kind, value)).toBeUndefined();
    const schema = kind === 'index' ? ociIndexSchema : kind === 'manifest' ? ociManifestSchema : ociImageConfigSchema;
    const expected = await caught(Promise.resolve().then(() => parseDocument(schema, value, 'doc', { digest: d(9) })));
    const error = await caught(readImageDocument(kind, value, 'doc', { digest: d(9) }));
    expect(expected).toBeInstanceOf(ImageError);
    expect(error).toBeInstanceOf(ImageError);
    expect(error.message).toBe(expected.message);
    expect(error['details']).toEqual(expected['details']);
  });
});

describe('image layout options without zod', () => {
  const zodError = (schema: Parameters<typeof parseOptions>[0], input: unknown, what: string): Error => {
    try {
      parseOptions(schema, input, what);
    } catch (error) {
      return error as Error;
    }
    throw new Error('the schema accepted it');
  };
  it('opens and resolves with the common options, and reports bad ones with the schema\'s message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lxcri-fast-'));
    try {
      const layout = await openImageLayout(dir, { create: true, maxDocumentBytes: 1024, logger: silentLogger });
      expect((await layout.readIndex()).manifests).toEqual([]);
      await expect(layout.resolve('x', { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, signal: new AbortController().signal })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      for (const bad of [{ maxDocumentBytes: -1 }, { create: 'yes' }, { logger: {} }, { other: 1 }]) {
        const error = await caught(openImageLayout(dir, bad as never));
        expect(error).toBeInstanceOf(InvalidOptionsError);
        expect(error.message).toBe(zodError(imageLayoutOptionsSchema, bad, 'image layout options').message);
      }
      for (const bad of [{ platform: '' }, { platform: { os: 'linux' } }, { signal: 1 }]) {
        const error = await caught(layout.resolve('x', bad as never));
        expect(error).toBeInstanceOf(InvalidOptionsError);
        expect(error.message).toBe(zodError(resolveImageOptionsSchema, bad, 'resolve options').message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a pull's modules", () => {
  it('load no zod (the CLI, the pull, the store, the layout, the registry client)', () => {
    const { files, stderr } = modulesLoadedBy(['src/cli/commands/pull.ts', 'src/oci/registry/pull.ts']);
    expect(stderr).toBe('');
    expect(files.some((f) => f.includes('/src/oci/registry/client.ts'))).toBe(true);
    expect(zodFiles(files)).toEqual([]);
  });
});
