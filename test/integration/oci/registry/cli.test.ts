/**
 * `lxcri pull` and `lxcri images`, run in-process against the fake registry on 127.0.0.1
 * (plain HTTP, named with --insecure-registry; credentials from --authfile).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli/main.js';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { captureIo } from '../../../helpers/cli-io.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';
import { startFakeRegistry, type FakeRegistry } from './fake-registry.js';

describe('lxcri pull / lxcri images', () => {
  let work: string;
  let registry: FakeRegistry;
  let manifestDigest: string;
  let authFile: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-cli-pull-'));
    const layout = join(work, 'layout');
    manifestDigest = writeImageLayout(layout, [{ tar: await packTar([{ name: 'hello', content: 'world\n' }]) }, { tar: await packTar([{ name: 'second', content: 'layer\n' }]) }], { ref: 'v1' }).manifestDigest;
    registry = await startFakeRegistry(layout, { basic: { user: 'carol', password: 'cli-password-7' } });
    authFile = join(work, 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [`http://${registry.host}`]: { auth: Buffer.from('carol:cli-password-7').toString('base64') } } }));
  });

  afterAll(async () => {
    await registry?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('pulls into a store, prints JSON, and the store resolves the reference', async () => {
    const io = captureIo(work, {});
    const code = await main(['pull', `${registry.host}/test/app:v1`, '--store', 'store', '--authfile', authFile, '--insecure-registry', registry.host, '--platform', 'linux/amd64'], io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    expect(io.json()).toMatchObject({ reference: `${registry.host}/test/app:v1`, manifestDigest, platform: 'linux/amd64', layers: 2, fetchedBlobs: 3, reusedBlobs: 0, store: join(work, 'store') });
    const image = await (await openImageLayout(join(work, 'store'))).resolve(`${registry.host}/test/app:v1`);
    expect(image.manifestDigest).toBe(manifestDigest);
  });

  it('draws a progress bar when stderr is a terminal', async () => {
    const io = captureIo(work, {});
    Object.assign(io.stderr, { isTTY: true });
    const code = await main(['pull', `${registry.host}/test/app:v1`, '--store', 'store-tty', '--authfile', authFile, '--insecure-registry', registry.host, '--platform', 'linux/amd64'], io);
    expect(code).toBe(0);
    expect(io.err()).toMatch(/\r\[#+\] .* blobs 3\/3/);
    expect(io.json()).toMatchObject({ manifestDigest });
  });

  it('reads REGISTRY_AUTH_FILE from the environment, and fails with exit 1 and no password without credentials', async () => {
    const viaEnv = captureIo(work, { REGISTRY_AUTH_FILE: authFile });
    expect(await main(['pull', `${registry.host}/test/app:v1`, '--store', 'store-env', '--insecure-registry', registry.host, '--platform', 'linux/amd64'], viaEnv)).toBe(0);
    const anonymous = captureIo(work, {});
    expect(await main(['pull', `${registry.host}/test/app:v1`, '--store', 'store-anon', '--insecure-registry', registry.host, '--platform', 'linux/amd64'], anonymous)).toBe(1);
    expect(anonymous.json()).toMatchObject({ error: { code: 'ERR_REGISTRY_AUTH', grpcStatus: 'Unauthenticated' } });
    expect(anonymous.out() + anonymous.err()).not.toContain('cli-password-7');
  });

  it('rejects bad usage with exit 2', async () => {
    const noStore = captureIo(work, {});
    expect(await main(['pull', 'busybox'], noStore)).toBe(2);
    const badConcurrency = captureIo(work, {});
    expect(await main(['pull', 'busybox', '--store', 's', '--concurrency', '0'], badConcurrency)).toBe(2);
    const badRef = captureIo(work, {});
    expect(await main(['pull', 'UPPER/Case', '--store', 's'], badRef)).toBe(1);
    expect(badRef.json()).toMatchObject({ error: { code: 'ERR_IMAGE' } });
  });

  it('lists, removes and garbage-collects with lxcri images', async () => {
    const list = captureIo(work, {});
    expect(await main(['images', '--store', 'store'], list)).toBe(0);
    expect(list.json()).toEqual({
      images: [
        expect.objectContaining({ reference: `${registry.host}/test/app:v1`, digest: manifestDigest, platform: { os: 'linux', architecture: 'amd64' }, size: expect.any(Number) as number }),
      ],
    });
    const prune = captureIo(work, {});
    expect(await main(['images', '--store', 'store', '--rm', `${registry.host}/test/app:v1`, '--gc'], prune)).toBe(0);
    expect(prune.json()).toEqual({ images: [], removed: [`${registry.host}/test/app:v1`], gc: { removedBlobs: 4, bytes: expect.any(Number) as number } });
    expect(readdirSync(join(work, 'store', 'blobs', 'sha256'))).toEqual([]);
    expect(existsSync(join(work, 'store', 'index.json'))).toBe(true);
    const missing = captureIo(work, {});
    expect(await main(['images', '--store', 'store', '--rm', 'nothing:here'], missing)).toBe(1);
    expect(missing.json()).toMatchObject({ error: { code: 'ERR_NOT_FOUND' } });
  });
});
