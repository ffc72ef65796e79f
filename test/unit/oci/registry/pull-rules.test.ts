import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RegistryAuthError, RegistryError, registryGrpcStatus } from '../../../../src/errors.js';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { parseRetryAfter, registryApiHost } from '../../../../src/oci/registry/client.js';
import { choosePlatformManifest, ensureImage, hostPlatform, pullImage } from '../../../../src/oci/registry/pull.js';
import { acquireLockFile, gcImages, registerPull } from '../../../../src/oci/registry/store.js';
import type { OciIndex } from '../../../../src/oci/image/types.js';
import { caught } from '../../../helpers/caught.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';

const M = 'application/vnd.oci.image.manifest.v1+json';
const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;

describe('platform choice from an index', () => {
  const index: OciIndex = {
    schemaVersion: 2,
    manifests: [
      { mediaType: M, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: M, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { mediaType: M, digest: d(3), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: M, digest: d(4), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: M, digest: d(5), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
      { mediaType: M, digest: d(6), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
    ],
  };
  it('matches os, architecture and variant as containerd does', () => {
    expect(choosePlatformManifest(index, { os: 'linux', architecture: 'amd64' })?.digest).toBe(d(1));
    expect(choosePlatformManifest(index, { os: 'linux', architecture: 'x86_64' })?.digest).toBe(d(1));
    expect(choosePlatformManifest(index, { os: 'linux', architecture: 'arm64' })?.digest).toBe(d(4));
    expect(choosePlatformManifest(index, { os: 'linux', architecture: 'arm' })?.digest).toBe(d(3));
    expect(choosePlatformManifest(index, { os: 'linux', architecture: 'arm', variant: 'v6' })?.digest).toBe(d(2));
    expect(choosePlatformManifest(index, { os: 'windows', architecture: 'amd64' })?.digest).toBe(d(6));
    expect(choosePlatformManifest(index, { os: 'linux', architecture: 's390x' })).toBeUndefined();
  });
  it('lets an arm v8 host take the best lower variant, never a higher one', () => {
    const older: OciIndex = { schemaVersion: 2, manifests: index.manifests.filter((m) => m.digest !== d(3)) };
    expect(choosePlatformManifest(index, { os: 'linux', architecture: 'arm', variant: 'v8' })?.digest).toBe(d(3));
    expect(choosePlatformManifest(older, { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest).toBe(d(2));
    expect(choosePlatformManifest(older, { os: 'linux', architecture: 'arm', variant: 'v5' })).toBeUndefined();
  });
  it('an arm64 entry without a variant is v8', () => {
    const plain: OciIndex = { schemaVersion: 2, manifests: [{ mediaType: M, digest: d(7), size: 1, platform: { os: 'linux', architecture: 'arm64' } }] };
    expect(choosePlatformManifest(plain, { os: 'linux', architecture: 'arm64', variant: 'v8' })?.digest).toBe(d(7));
  });
  it('names the host platform as an index does', () => {
    expect(hostPlatform()).toMatch(/^linux\/[a-z0-9]+$/);
    if (process.arch === 'x64') expect(hostPlatform()).toBe('linux/amd64');
  });
});

describe('registry helpers', () => {
  it("uses registry-1.docker.io for docker.io's API", () => {
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('index.docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('localhost:5000')).toBe('localhost:5000');
  });
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000 + 5000).toUTCString(), 10_000)).toBe(5000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
  it('maps distribution error codes to gRPC statuses', () => {
    expect(registryGrpcStatus('MANIFEST_UNKNOWN', 404)).toBe('NotFound');
    expect(registryGrpcStatus('NAME_UNKNOWN', 404)).toBe('NotFound');
    expect(registryGrpcStatus('BLOB_UNKNOWN', 404)).toBe('NotFound');
    expect(registryGrpcStatus('UNAUTHORIZED', 401)).toBe('Unauthenticated');
    expect(registryGrpcStatus('DENIED', 403)).toBe('PermissionDenied');
    expect(registryGrpcStatus('TOOMANYREQUESTS', 429)).toBe('ResourceExhausted');
    expect(registryGrpcStatus(undefined, 503)).toBe('Unavailable');
    expect(registryGrpcStatus(undefined, undefined)).toBe('Unavailable');
    expect(new RegistryError('x', { registryCode: 'TOOMANYREQUESTS', status: 429 })).toMatchObject({ code: 'ERR_REGISTRY', grpcStatus: 'ResourceExhausted' });
    expect(new RegistryAuthError('x', { registryCode: 'DENIED', status: 403 })).toMatchObject({ code: 'ERR_REGISTRY_AUTH', grpcStatus: 'PermissionDenied' });
    expect(new RegistryAuthError('x', { status: 401 })).toMatchObject({ grpcStatus: 'Unauthenticated' });
  });
});

describe('pull options', () => {
  it('rejects unknown and inconsistent options before any request', async () => {
    expect(await caught(pullImage('busybox', { store: '/nonexistent', bogus: 1 } as never))).toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    expect(await caught(pullImage('busybox', { store: '/nonexistent', auth: { username: 'u' } }))).toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    expect(await caught(pullImage('busybox', { store: '/nonexistent', concurrency: 0 }))).toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    expect(await caught(ensureImage('busybox', { store: '/nonexistent', pullPolicy: 'sometimes' as never }))).toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    expect(await caught(pullImage('Bad:Ref:', { store: '/nonexistent' }))).toMatchObject({ code: 'ERR_IMAGE' });
  });
});

describe('store locks and gc', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lxcri-store-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes over the lock of a dead process and waits for a live one', async () => {
    const lock = join(dir, 'test.lock');
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid ?? 0)));
    await writeFile(lock, `${deadPid} abc`);
    const release = await acquireLockFile(lock, { what: 'test', timeoutMs: 2000 });
    const waiting = caught(acquireLockFile(lock, { what: 'second', timeoutMs: 150 }));
    expect(await waiting).toMatchObject({ code: 'ERR_STORE' });
    await release();
    const again = await acquireLockFile(lock, { what: 'third', timeoutMs: 500 });
    await again();
  });

  it('gc keeps blobs a running pull registered and removes the rest', async () => {
    const store = join(dir, 'store');
    const image = writeImageLayout(store, [{ tar: await packTar([{ name: 'a', content: 'a' }]) }]);
    const layout = await openImageLayout(store);
    // the layout's index names the image: nothing to collect
    expect(await gcImages(store)).toEqual({ removed: [], bytes: 0 });
    await writeFile(join(store, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    const unregister = await registerPull(store, [image.manifestDigest, image.configDigest], undefined);
    const first = await gcImages(layout);
    expect(first.removed).toEqual(image.layerDigests);
    await unregister();
    const second = await gcImages(layout);
    expect(second.removed.sort()).toEqual([image.manifestDigest, image.configDigest].sort());
  });
});
