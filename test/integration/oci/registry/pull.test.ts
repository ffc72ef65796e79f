/**
 * pullImage / ensureImage against Debian's docker-registry on loopback, over TLS with a CA made by
 * the test: anonymous, htpasswd Basic auth, and Bearer tokens from a token service run here.
 * Images are pushed with skopeo; what lxcri pulls is compared with `skopeo copy docker://… oci:…`
 * and unpacked to the tree umoci unpacks.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { unpackImage } from '../../../../src/oci/layers/unpack-image.js';
import { ensureImage, pullImage, type PullProgress } from '../../../../src/oci/registry/pull.js';
import { gcImages, ingestPath, listImages, removeImage } from '../../../../src/oci/registry/store.js';
import { RegistryAuthError, RegistryError, NotFoundError } from '../../../../src/errors.js';
import { caught } from '../../../helpers/caught.js';
import { buildFeatureImage, packTar, snapshotTree, writeImageLayout, type TreeNode } from '../../../helpers/oci-fixtures.js';
import { missing } from '../../../helpers/requirements.js';
import { makePki, skopeoCopy, startDistribution, startTokenServer, type Distribution, type TestPki, type TokenServer } from './registry-server.js';

const sha256File = (path: string): string => execFileSync('sha256sum', [path]).toString().split(' ')[0] ?? '';

/** Writes a two-platform image (linux/amd64, linux/arm64/v8) as an OCI layout whose index.json names an index `multi`. */
async function writeMultiArch(dir: string): Promise<{ amd64: string; arm64: string; index: string }> {
  const amd = writeImageLayout(dir, [{ tar: await packTar([{ name: 'arch', content: 'amd64\n' }, { name: 'shared', content: 'same in both\n' }]) }], { architecture: 'amd64' });
  const arm = writeImageLayout(dir, [{ tar: await packTar([{ name: 'arch', content: 'arm64\n' }, { name: 'shared', content: 'same in both\n' }]) }], { architecture: 'arm64', config: { variant: 'v8' } });
  const size = (digest: string): number => statSync(join(dir, 'blobs', 'sha256', digest.slice(7))).size;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.manifestDigest, size: size(amd.manifestDigest), platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.manifestDigest, size: size(arm.manifestDigest), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }),
  );
  const indexDigest = `sha256:${execFileSync('sha256sum', { input: index }).toString().split(' ')[0]}`;
  writeFileSync(join(dir, 'blobs', 'sha256', indexDigest.slice(7)), index);
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }),
  );
  return { amd64: amd.manifestDigest, arm64: arm.manifestDigest, index: indexDigest };
}

describe.skipIf(missing({ root: true, tools: ['docker-registry', 'skopeo', 'umoci', 'setfattr', 'getfattr', 'mknod'] }))('pulling from docker-registry on loopback', () => {
  let work: string;
  let pki: TestPki;
  let anon: Distribution;
  let basic: Distribution;
  let tokens: TokenServer;
  let bearer: Distribution;
  let expectedTree: Record<string, TreeNode>;
  let multi: { amd64: string; arm64: string; index: string };
  const USER = 'alice';
  const PASSWORD = 'correct-horse-battery-staple';
  let storeN = 0;
  const newStore = (): string => join(work, `store-${++storeN}`);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-registry-'));
    pki = await makePki(work);
    for (const d of ['anon', 'basic', 'bearer', 'token']) mkdirSync(join(work, d));
    tokens = await startTokenServer(join(work, 'token'), pki, { users: { [USER]: PASSWORD }, anonymousPull: true });
    [anon, basic, bearer] = await Promise.all([
      startDistribution(join(work, 'anon'), pki, { kind: 'none' }),
      startDistribution(join(work, 'basic'), pki, { kind: 'htpasswd', users: { [USER]: PASSWORD } }),
      startDistribution(join(work, 'bearer'), pki, { kind: 'token', server: tokens }),
    ]);
    buildFeatureImage(join(work, 'src'), 'v1', work);
    execFileSync('umoci', ['unpack', '--image', `${join(work, 'src')}:v1`, join(work, 'by-umoci')]);
    expectedTree = snapshotTree(join(work, 'by-umoci', 'rootfs'), { xattrs: true, mtimes: true });
    multi = await writeMultiArch(join(work, 'multi'));
    const creds = `${USER}:${PASSWORD}`;
    await Promise.all([
      skopeoCopy(`oci:${join(work, 'src')}:v1`, `docker://${anon.host}/test/app:v1`, { pki }),
      skopeoCopy(`oci:${join(work, 'src')}:v1`, `docker://${basic.host}/test/app:v1`, { pki, creds }),
      skopeoCopy(`oci:${join(work, 'src')}:v1`, `docker://${bearer.host}/test/app:v1`, { pki, creds }),
      skopeoCopy(`oci:${join(work, 'multi')}:multi`, `docker://${anon.host}/test/multi:1`, { pki, all: true }),
      skopeoCopy(`oci:${join(work, 'src')}:v1`, `docker://${anon.host}/test/docker:v1`, { pki, format: 'v2s2' }),
    ]);
    tokens.requests.length = 0;
  }, 180_000);

  afterAll(async () => {
    await Promise.all([anon?.close(), basic?.close(), bearer?.close(), tokens?.close()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('pulls anonymously the manifest and blobs skopeo copies, and the image unpacks to the tree umoci unpacks', async () => {
    const store = newStore();
    const events: PullProgress[] = [];
    const image = await pullImage(`${anon.host}/test/app:v1`, { store, tls: { ca: pki.caPem }, onProgress: (p) => events.push(p) });
    await skopeoCopy(`docker://${anon.host}/test/app:v1`, `oci:${join(work, 'by-skopeo')}:${anon.host}/test/app:v1`, { pki });

    const skopeoLayout = await openImageLayout(join(work, 'by-skopeo'));
    const skopeoImage = await skopeoLayout.resolve(`${anon.host}/test/app:v1`);
    expect(image.manifestDigest).toBe(skopeoImage.manifestDigest);
    expect(image.reference).toBe(`${anon.host}/test/app:v1`);
    const skopeoBlobs = readdirSync(join(work, 'by-skopeo', 'blobs', 'sha256')).sort();
    const ourBlobs = readdirSync(join(store, 'blobs', 'sha256')).sort();
    expect(ourBlobs).toEqual(skopeoBlobs);
    for (const blob of ourBlobs) expect(sha256File(join(store, 'blobs', 'sha256', blob))).toBe(blob);
    expect(image.layers.length).toBeGreaterThanOrEqual(4);
    expect(image.pull).toMatchObject({ fetchedBlobs: image.layers.length + 1, reusedBlobs: 0 });
    const last = events.at(-1);
    expect(last?.phase).toBe('done');
    expect(last?.bytes).toBe(last?.totalBytes);
    expect(last?.blobsDone).toBe(image.layers.length + 1);

    // the store is a layout that openImageLayout reads by short and full names
    const again = await (await openImageLayout(store)).resolve(`${anon.host}/test/app:v1`);
    expect(again.manifestDigest).toBe(image.manifestDigest);
    const result = await unpackImage(again, join(work, 'from-pull'));
    expect(snapshotTree(result.rootfs, { xattrs: true, mtimes: true })).toEqual(expectedTree);

    // pulled again: nothing is fetched, the index entry is not duplicated
    const second = await pullImage(`${anon.host}/test/app:v1`, { store, tls: { ca: pki.caPem } });
    expect(second.pull).toMatchObject({ fetchedBlobs: 0, reusedBlobs: image.layers.length + 1, downloadedBytes: 0 });
    expect(await listImages(store)).toHaveLength(1);
  });

  it('pulls a Docker v2 schema 2 image as skopeo copies it', async () => {
    const store = newStore();
    const image = await pullImage(`${anon.host}/test/docker:v1`, { store, tls: { ca: pki.caPem } });
    expect(image.manifestDescriptor.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(image.manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    // skopeo's oci: transport converts to OCI media types; its dir: transport keeps the manifest as served
    const dir = join(work, 'docker-by-skopeo');
    await skopeoCopy(`docker://${anon.host}/test/docker:v1`, `dir:${dir}`, { pki });
    expect(image.manifestDigest).toBe(`sha256:${sha256File(join(dir, 'manifest.json'))}`);
    const skopeoBlobs = readdirSync(dir).filter((f) => /^[a-f0-9]{64}$/.test(f));
    expect(readdirSync(join(store, 'blobs', 'sha256')).filter((f) => f !== image.manifestDigest.slice(7)).sort()).toEqual(skopeoBlobs.sort());
    const result = await unpackImage(image, join(work, 'from-docker'));
    expect(snapshotTree(result.rootfs, { xattrs: true, mtimes: true })).toEqual(expectedTree);
  });

  it('refuses a registry certificate that no given CA signed', async () => {
    const error = await caught(pullImage(`${anon.host}/test/app:v1`, { store: newStore(), retry: { retries: 0 } }));
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toMatchObject({ code: 'ERR_REGISTRY', retryable: false, details: { reason: 'tls' } });
  });

  it('refuses the registry certificate when the given CA is another one, and trusts the right one on the same store', async () => {
    mkdirSync(join(work, 'other-ca'), { recursive: true });
    const other = await makePki(join(work, 'other-ca'));
    const store = newStore();
    const error = await caught(pullImage(`${anon.host}/test/app:v1`, { store, tls: { ca: other.caPem }, retry: { retries: 0 } }));
    expect(error).toMatchObject({ code: 'ERR_REGISTRY', retryable: false, details: { reason: 'tls' } });
    // both CAs in the bundle: one context for every connection of the pull, verified against either
    const image = await pullImage(`${anon.host}/test/app:v1`, { store, tls: { ca: [other.caPem, pki.caPem] } });
    expect(image.pull.fetchedBlobs).toBe(image.layers.length + 1);
  });

  it('maps MANIFEST_UNKNOWN and NAME_UNKNOWN to NotFound', async () => {
    const tag = await caught(pullImage(`${anon.host}/test/app:nope`, { store: newStore(), tls: { ca: pki.caPem } }));
    expect(tag).toMatchObject({ code: 'ERR_REGISTRY', grpcStatus: 'NotFound', registryCode: 'MANIFEST_UNKNOWN', status: 404 });
    const repo = await caught(pullImage(`${anon.host}/test/nothing:v1`, { store: newStore(), tls: { ca: pki.caPem } }));
    // distribution 2.8 answers MANIFEST_UNKNOWN for a repository it never saw; others say NAME_UNKNOWN
    expect(repo).toMatchObject({ code: 'ERR_REGISTRY', grpcStatus: 'NotFound', status: 404 });
    expect(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']).toContain(repo['registryCode']);
  });

  it("refuses a single-manifest image of another platform once its config arrived, and stores no entry", async () => {
    const store = newStore();
    const error = await caught(pullImage(`${anon.host}/test/app:v1`, { store, tls: { ca: pki.caPem }, platform: 'linux/s390x' }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ details: { reason: 'no matching platform' } });
    expect((error as Error).message).toContain('is an image for linux/amd64, not linux/s390x');
    expect(await listImages(store)).toEqual([]);
    // the same store then takes the right platform; blobs fetched before the refusal are reused
    const image = await pullImage(`${anon.host}/test/app:v1`, { store, tls: { ca: pki.caPem }, platform: 'linux/amd64' });
    expect(image.pull.fetchedBlobs + image.pull.reusedBlobs).toBe(image.layers.length + 1);
    expect(await listImages(store)).toHaveLength(1);
  });

  it('chooses the platform from a multi-arch index; both platforms live under one reference', async () => {
    const store = newStore();
    const arm = await pullImage(`${anon.host}/test/multi:1`, { store, tls: { ca: pki.caPem }, platform: 'linux/arm64' });
    expect(arm.manifestDigest).toBe(multi.arm64);
    expect(arm.pull.indexDigest).toBe(multi.index);
    expect(arm.config.architecture).toBe('arm64');
    const amd = await pullImage(`${anon.host}/test/multi:1`, { store, tls: { ca: pki.caPem }, platform: 'linux/amd64' });
    expect(amd.manifestDigest).toBe(multi.amd64);
    const listed = await listImages(store);
    expect(listed.map((i) => [i.reference, i.platform?.architecture, i.digest])).toEqual([
      [`${anon.host}/test/multi:1`, 'arm64', multi.arm64],
      [`${anon.host}/test/multi:1`, 'amd64', multi.amd64],
    ]);
    const layout = await openImageLayout(store);
    expect((await layout.resolve(`${anon.host}/test/multi:1`, { platform: 'linux/arm64' })).manifestDigest).toBe(multi.arm64);
    expect((await layout.resolve(`${anon.host}/test/multi:1`, { platform: 'linux/amd64' })).manifestDigest).toBe(multi.amd64);
    // by digest of the index
    const byDigest = await pullImage(`${anon.host}/test/multi@${multi.index}`, { store: newStore(), tls: { ca: pki.caPem }, platform: 'linux/arm64/v8' });
    expect(byDigest.manifestDigest).toBe(multi.arm64);
    const none = await caught(pullImage(`${anon.host}/test/multi:1`, { store: newStore(), tls: { ca: pki.caPem }, platform: 'linux/s390x' }));
    expect(none).toBeInstanceOf(NotFoundError);

    // removing one platform and collecting garbage keeps the other platform's blobs
    const before = new Set(readdirSync(join(store, 'blobs', 'sha256')));
    await removeImage(store, `${anon.host}/test/multi:1`, { platform: 'linux/arm64' });
    const collected = await gcImages(store);
    expect(collected.removed).toContain(multi.arm64);
    expect(collected.removed).toContain(arm.configDigest);
    expect(collected.removed).not.toContain(amd.configDigest);
    const after = new Set(readdirSync(join(store, 'blobs', 'sha256')));
    expect(after.size).toBe(before.size - collected.removed.length);
    const kept = await layout.resolve(`${anon.host}/test/multi:1`, { platform: 'linux/amd64' });
    await unpackImage(kept, join(work, 'multi-amd64'));
    expect(readFileSync(join(work, 'multi-amd64', 'rootfs', 'arch'), 'utf8')).toBe('amd64\n');
  });

  it('resumes a blob whose first half an interrupted pull left in the store', async () => {
    const store = newStore();
    const skopeo = await (await openImageLayout(join(work, 'by-skopeo'))).resolve(`${anon.host}/test/app:v1`);
    const largest = [...skopeo.layers].sort((a, b) => b.size - a.size)[0];
    if (!largest) throw new Error('no layers');
    const half = Math.floor(largest.size / 2);
    const blob = readFileSync(join(work, 'by-skopeo', 'blobs', 'sha256', largest.digest.slice(7)));
    mkdirSync(join(store, '.lxcri', 'ingest'), { recursive: true });
    writeFileSync(ingestPath(store, largest.digest), blob.subarray(0, half));
    const image = await pullImage(`${anon.host}/test/app:v1`, { store, tls: { ca: pki.caPem } });
    const total = [image.manifest.config, ...image.layers].reduce((n, d) => n + d.size, 0);
    expect(image.pull.downloadedBytes).toBe(total - half);
    expect(sha256File(join(store, 'blobs', 'sha256', largest.digest.slice(7)))).toBe(largest.digest.slice(7));
  });

  describe('htpasswd Basic auth', () => {
    it('pulls with a username and password', async () => {
      const image = await pullImage(`${basic.host}/test/app:v1`, { store: newStore(), tls: { ca: pki.caPem }, auth: { username: USER, password: PASSWORD } });
      expect(image.layers.length).toBeGreaterThanOrEqual(4);
    });

    it('reads credentials from REGISTRY_AUTH_FILE and from an explicit auth file', async () => {
      const file = join(work, 'auth.json');
      writeFileSync(file, JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
      const viaEnv = await pullImage(`${basic.host}/test/app:v1`, { store: newStore(), tls: { ca: pki.caPem }, auth: { env: { REGISTRY_AUTH_FILE: file } } });
      const viaFile = await pullImage(`${basic.host}/test/app:v1`, { store: newStore(), tls: { caFile: pki.caCert }, auth: { authFile: file } });
      expect(viaFile.manifestDigest).toBe(viaEnv.manifestDigest);
    });

    it('fails Unauthenticated without or with wrong credentials, and never shows the password', async () => {
      const anonymous = await caught(pullImage(`${basic.host}/test/app:v1`, { store: newStore(), tls: { ca: pki.caPem }, auth: { env: {} } }));
      expect(anonymous).toBeInstanceOf(RegistryAuthError);
      expect(anonymous).toMatchObject({ code: 'ERR_REGISTRY_AUTH', grpcStatus: 'Unauthenticated' });
      const wrong = await caught(pullImage(`${basic.host}/test/app:v1`, { store: newStore(), tls: { ca: pki.caPem }, auth: { username: USER, password: 'wrong-password-123' } }));
      expect(wrong).toMatchObject({ code: 'ERR_REGISTRY_AUTH', grpcStatus: 'Unauthenticated' });
      const text = `${wrong.message} ${JSON.stringify(wrong)} ${String(wrong.stack)}`;
      expect(text).not.toContain('wrong-password-123');
      expect(text).not.toContain(Buffer.from(`${USER}:wrong-password-123`).toString('base64'));
    });
  });

  describe('Bearer tokens', () => {
    it('gets one token for the repository scope and pulls with it', async () => {
      tokens.requests.length = 0;
      const image = await pullImage(`${bearer.host}/test/app:v1`, { store: newStore(), tls: { ca: pki.caPem }, auth: { username: USER, password: PASSWORD } });
      expect(image.layers.length).toBeGreaterThanOrEqual(4);
      expect(tokens.requests).toEqual([{ scope: 'repository:test/app:pull', user: USER }]);
    });

    it('pulls anonymously with a token the service gives without credentials', async () => {
      tokens.requests.length = 0;
      const image = await pullImage(`${bearer.host}/test/app:v1`, { store: newStore(), tls: { ca: pki.caPem }, auth: { env: {} } });
      expect(image.layers.length).toBeGreaterThanOrEqual(4);
      expect(tokens.requests).toEqual([{ scope: 'repository:test/app:pull', user: undefined }]);
    });

    it('fails Unauthenticated when the token service refuses, without showing the password', async () => {
      const error = await caught(pullImage(`${bearer.host}/test/app:v1`, { store: newStore(), tls: { ca: pki.caPem }, auth: { username: USER, password: 'not-the-password' } }));
      expect(error).toMatchObject({ code: 'ERR_REGISTRY_AUTH', grpcStatus: 'Unauthenticated' });
      expect(`${error.message} ${JSON.stringify(error)}`).not.toContain('not-the-password');
    });

    it('ensureImage: never / if-missing / always', async () => {
      const store = newStore();
      const options = { store, tls: { ca: pki.caPem }, auth: { username: USER, password: PASSWORD } } as const;
      const never = await caught(ensureImage(`${bearer.host}/test/app:v1`, { ...options, pullPolicy: 'never' }));
      expect(never).toBeInstanceOf(NotFoundError);
      tokens.requests.length = 0;
      const first = await ensureImage(`${bearer.host}/test/app:v1`, options);
      expect(tokens.requests).toHaveLength(1);
      const present = await ensureImage(`${bearer.host}/test/app:v1`, { ...options, pullPolicy: 'if-missing' });
      expect(present.manifestDigest).toBe(first.manifestDigest);
      expect(tokens.requests).toHaveLength(1); // the registry was not asked
      const stored = await ensureImage(`${bearer.host}/test/app:v1`, { ...options, pullPolicy: 'never' });
      expect(stored.manifestDigest).toBe(first.manifestDigest);
      await ensureImage(`${bearer.host}/test/app:v1`, { ...options, pullPolicy: 'always' });
      expect(tokens.requests).toHaveLength(2);
    });
  });
});
