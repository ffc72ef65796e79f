/**
 * pullImage against a registry that misbehaves (fake-registry.ts, plain HTTP on 127.0.0.1 named
 * as insecure): wrong digests are refused, cut downloads resume with Range, blob redirects to
 * another host get no Authorization header, 429 waits for Retry-After.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, fsync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ImageError, RegistryError } from '../../../../src/errors.js';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { pullImage } from '../../../../src/oci/registry/pull.js';
import { ingestPath } from '../../../../src/oci/registry/store.js';
import { caught } from '../../../helpers/caught.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';
import { startFakeRegistry, type FakeRegistry } from './fake-registry.js';

const fsyncP = promisify(fsync);

describe('pulling from a misbehaving registry', () => {
  let work: string;
  let registry: FakeRegistry;
  let image: { manifestDigest: string; configDigest: string; layerDigests: string[] };
  let big: string;
  let bigSize: number;
  let n = 0;
  const store = (): string => join(work, `store-${++n}`);
  const USER = 'bob';
  const PASSWORD = 's3cret-password-42';
  const base = (): { insecureRegistries: string[]; auth: { username: string; password: string }; platform: string } => ({
    insecureRegistries: [registry.host],
    auth: { username: USER, password: PASSWORD },
    platform: 'linux/amd64',
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-fake-registry-'));
    const layout = join(work, 'layout');
    image = writeImageLayout(
      layout,
      [
        { tar: await packTar([{ name: 'etc/hostname', content: 'fake\n' }]) },
        { tar: await packTar([{ name: 'random.bin', content: randomBytes(3 * 1024 * 1024) }]), compression: 'none' },
      ],
      { ref: 'v1' },
    );
    big = image.layerDigests[1] as string;
    bigSize = statSync(join(layout, 'blobs', 'sha256', big.slice(7))).size;
    registry = await startFakeRegistry(layout, { basic: { user: USER, password: PASSWORD } });
  });

  beforeEach(() => {
    registry.requests.length = 0;
    Object.assign(registry.faults, { redirectBlobs: false, rateLimit: 0, wrongDigestHeader: false, noRange: false });
    registry.faults.tamper.clear();
    registry.faults.cutAfter.clear();
  });

  afterAll(async () => {
    await registry?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('pulls over plain HTTP only from a registry named insecure', async () => {
    const refused = await caught(pullImage(`${registry.host}/test/app:v1`, { store: store(), auth: base().auth, platform: 'linux/amd64', retry: { retries: 0 } }));
    expect(refused).toBeInstanceOf(RegistryError);
    expect(registry.requests).toHaveLength(0);
    const pulled = await pullImage(`${registry.host}/test/app:v1`, { store: store(), ...base() });
    expect(pulled.manifestDigest).toBe(image.manifestDigest);
  });

  it('flushes every blob and index.json to the disk before renaming it into place (as skopeo does)', async () => {
    const dir = store();
    const probe = await open(join(work, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const synced: string[] = [];
    const spy = vi.spyOn(proto, 'datasync').mockImplementation(function (this: FileHandle) {
      synced.push(readlinkSync(`/proc/self/fd/${this.fd}`));
      return fsyncP(this.fd);
    });
    try {
      await pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base() });
    } finally {
      spy.mockRestore();
    }
    for (const digest of [...image.layerDigests, image.configDigest]) expect(synced).toContain(ingestPath(dir, digest));
    expect(synced.some((p) => p.startsWith(`${join(dir, 'blobs', 'sha256', image.manifestDigest.slice(7))}.tmp-`))).toBe(true);
    expect(synced.some((p) => p.startsWith(`${join(dir, 'index.json')}.tmp-`))).toBe(true);
  });

  it('refuses a layer whose bytes do not match its digest, and stores nothing of it', async () => {
    const dir = store();
    registry.faults.tamper.add(big);
    const error = await caught(pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base() }));
    expect(error).toBeInstanceOf(ImageError);
    expect(error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'digest mismatch', digest: big } });
    expect(existsSync(join(dir, 'blobs', 'sha256', big.slice(7)))).toBe(false);
    expect(existsSync(ingestPath(dir, big))).toBe(false);
    expect((await (await openImageLayout(dir)).readIndex()).manifests).toEqual([]);
    // refused, not retried
    expect(registry.requests.filter((r) => r.path.endsWith(big))).toHaveLength(1);
  });

  it('refuses a manifest whose Docker-Content-Digest does not match its bytes', async () => {
    registry.faults.wrongDigestHeader = true;
    const error = await caught(pullImage(`${registry.host}/test/app:v1`, { store: store(), ...base() }));
    expect(error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'digest mismatch' } });
  });

  it('an interrupted pull leaves the partial blob, and the next pull asks only for the rest', async () => {
    const dir = store();
    registry.faults.cutAfter.set(big, 1024 * 1024);
    const error = await caught(pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base(), retry: { retries: 0 } }));
    expect(error).toMatchObject({ code: 'ERR_REGISTRY', retryable: true });
    const partial = statSync(ingestPath(dir, big)).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThanOrEqual(1024 * 1024);

    // the other blobs may be in the store, partly or wholly in ingest/ (stopped by the failure), or not fetched yet
    const present = new Set(readdirSync(join(dir, 'blobs', 'sha256')));
    const received = (digest: string): number => (existsSync(ingestPath(dir, digest)) ? statSync(ingestPath(dir, digest)).size : 0);
    const otherDigests = image.layerDigests.filter((d) => d !== big).concat(image.configDigest);
    const stillToFetch = otherDigests.filter((d) => !present.has(d.slice(7))).map((d) => ({ digest: d, received: received(d) }));
    registry.requests.length = 0;
    const pulled = await pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base() });
    const blobRequests = registry.requests.filter((r) => r.path.endsWith(big));
    expect(blobRequests).toEqual([expect.objectContaining({ range: `bytes=${partial}-`, status: 206 })]);
    const sizes = new Map([pulled.manifest.config, ...pulled.layers].map((d) => [d.digest, d.size]));
    expect(pulled.pull.downloadedBytes).toBe(bigSize - partial + stillToFetch.reduce((sum, o) => sum + (sizes.get(o.digest) ?? 0) - o.received, 0));
    expect(existsSync(ingestPath(dir, big))).toBe(false);
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).toContain(big.slice(7));
  });

  it('resumes within one pull when the connection is cut, and starts over when the registry ignores Range', async () => {
    registry.faults.cutAfter.set(big, 512 * 1024);
    const resumed = await pullImage(`${registry.host}/test/app:v1`, { store: store(), ...base(), retry: { retries: 2, minDelayMs: 10, maxDelayMs: 20 } });
    expect(resumed.manifestDigest).toBe(image.manifestDigest);
    const ranges = registry.requests.filter((r) => r.path.endsWith(big)).map((r) => r.status);
    expect(ranges).toEqual([200, 206]);

    registry.requests.length = 0;
    registry.faults.cutAfter.set(big, 512 * 1024);
    registry.faults.noRange = true;
    const restarted = await pullImage(`${registry.host}/test/app:v1`, { store: store(), ...base(), retry: { retries: 2, minDelayMs: 10, maxDelayMs: 20 } });
    expect(restarted.manifestDigest).toBe(image.manifestDigest);
    expect(registry.requests.filter((r) => r.path.endsWith(big)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('follows blob redirects to another host without the Authorization header', async () => {
    registry.faults.redirectBlobs = true;
    const dir = store();
    const pulled = await pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base() });
    expect(pulled.layers).toHaveLength(2);
    const storage = registry.requests.filter((r) => r.path.startsWith('/storage/'));
    expect(storage).toHaveLength(3);
    for (const r of storage) {
      expect(r.host).toBe(`localhost:${registry.port}`);
      expect(r.authorization).toBeUndefined();
    }
    const own = registry.requests.filter((r) => r.path.startsWith('/v2/test/app/blobs/'));
    expect(own.length).toBe(3);
    for (const r of own) expect(r.authorization).toMatch(/^Basic /);
    expect(readFileSync(join(dir, 'blobs', 'sha256', big.slice(7))).length).toBe(bigSize);
  });

  it('waits for Retry-After on 429 and then succeeds', async () => {
    registry.faults.rateLimit = 1;
    const pulled = await pullImage(`${registry.host}/test/app:v1`, { store: store(), ...base(), retry: { minDelayMs: 1, maxDelayMs: 5 } });
    expect(pulled.manifestDigest).toBe(image.manifestDigest);
    const manifests = registry.requests.filter((r) => r.path.includes('/manifests/') && r.authorization !== undefined);
    expect(manifests.map((r) => r.status)).toEqual([429, 200]);
    const [first, second] = manifests;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('logs retries and redirects without credentials', async () => {
    const lines: string[] = [];
    const record = (fields: Record<string, unknown>, message?: string): void => {
      lines.push(JSON.stringify({ fields, message }));
    };
    registry.faults.rateLimit = 1;
    registry.faults.redirectBlobs = true;
    await pullImage(`${registry.host}/test/app:v1`, { store: store(), ...base(), retry: { minDelayMs: 1, maxDelayMs: 5 }, logger: { debug: record, info: record, warn: record, error: record } });
    const text = lines.join('\n');
    expect(text).toContain('retrying registry request');
    expect(text).toContain('following registry redirect');
    expect(text).toContain('pulled image');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
  });

  it('gives up with ResourceExhausted when Retry-After is longer than maxRetryAfterMs', async () => {
    registry.faults.rateLimit = 5;
    const error = await caught(pullImage(`${registry.host}/test/app:v1`, { store: store(), ...base(), retry: { maxRetryAfterMs: 100 } }));
    expect(error).toMatchObject({ code: 'ERR_REGISTRY', grpcStatus: 'ResourceExhausted', registryCode: 'TOOMANYREQUESTS', status: 429 });
  });

  it('two concurrent pulls of one image into one store download each blob once', async () => {
    const dir = store();
    const [a, b] = await Promise.all([pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base() }), pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base() })]);
    expect(a.manifestDigest).toBe(image.manifestDigest);
    expect(b.manifestDigest).toBe(image.manifestDigest);
    const blobGets = registry.requests.filter((r) => r.path.startsWith('/v2/test/app/blobs/') && r.status === 200);
    expect(blobGets).toHaveLength(3);
    expect(a.pull.fetchedBlobs + b.pull.fetchedBlobs).toBe(3);
    expect((await (await openImageLayout(dir)).readIndex()).manifests).toHaveLength(1);
  });

  it('gc running while a pull downloads does not remove the pull’s blobs', async () => {
    const dir = store();
    const { gcImages } = await import('../../../../src/oci/registry/store.js');
    let pulling = true;
    let collections = 0;
    const collector = (async () => {
      while (pulling) {
        await gcImages(dir).catch((error: unknown) => {
          if (!(error instanceof Error && /no index.json|not an OCI image layout/.test(error.message))) throw error;
        });
        collections += 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const pulled = await pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base(), concurrency: 1 }).finally(() => {
      pulling = false;
    });
    await collector;
    expect(collections).toBeGreaterThan(0);
    const resolved = await (await openImageLayout(dir)).resolve(`${registry.host}/test/app:v1`);
    expect(resolved.manifestDigest).toBe(pulled.manifestDigest);
    for (const d of [resolved.manifest.config, ...resolved.layers]) expect(existsSync(join(dir, 'blobs', 'sha256', d.digest.slice(7)))).toBe(true);
  });

  it('stops at the signal and keeps what was downloaded', async () => {
    const controller = new AbortController();
    const dir = store();
    const error = await caught(
      pullImage(`${registry.host}/test/app:v1`, {
        store: dir,
        ...base(),
        signal: controller.signal,
        onProgress: (p) => {
          if (p.digest === big && (p.blobBytes ?? 0) > 0) controller.abort(new Error('stop'));
        },
      }),
    );
    expect(error).toMatchObject({ code: 'ERR_ABORTED' });
    expect(existsSync(join(dir, 'blobs', 'sha256', big.slice(7)))).toBe(false);
    const resumed = await pullImage(`${registry.host}/test/app:v1`, { store: dir, ...base() });
    expect(resumed.manifestDigest).toBe(image.manifestDigest);
  });
});
