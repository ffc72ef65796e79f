import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeCreateContainerRequest } from '../../../../src/cri/normalize.js';
import { openImageLayout, type ResolvedImage } from '../../../../src/oci/image/layout.js';
import { LayerCache } from '../../../../src/oci/layers/layer-cache.js';
import { AlreadyExistsError, CriValidationError, writeBundle } from '../../../../src/index.js';
import { bundlePath, mountsBelow, type RootfsProvider } from '../../../../src/exports/oci.js';
import { ociRuntimeSpecSchema } from '../../../../src/oci/spec/runtime-spec.js';
import { buildBusyboxImage, missingBusybox, type BusyboxImage } from '../../../helpers/busybox-image.js';
import { missing } from '../../../helpers/requirements.js';

const skip = missing({ tools: ['umoci'] }) ?? missingBusybox();

function req(securityContext: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): ReturnType<typeof normalizeCreateContainerRequest> {
  return normalizeCreateContainerRequest({
    pod_sandbox_id: 'sb',
    config: { metadata: { name: 'c' }, image: { image: 'busybox' }, linux: { security_context: securityContext }, ...extra },
    sandbox_config: { metadata: { name: 'p', uid: 'u', namespace: 'n' }, hostname: 'h' },
  });
}

describe.skipIf(skip)('writeBundle', () => {
  let work: string;
  let img: BusyboxImage;
  let image: ResolvedImage;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lxcri-bundle-'));
    img = await buildBusyboxImage({ parent: work });
    image = await (await openImageLayout(img.layout)).resolve(img.tag);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('writes <root>/<id>/{config.json, rootfs} with mode 0700, and the user resolved from the image', async () => {
    const dir = bundlePath(join(work, 'bundles'), 'c1');
    expect(dir).toBe(join(work, 'bundles', 'c1'));
    const progress: boolean[] = [];
    const bundle = await writeBundle(dir, { containerId: 'c1', request: req({ run_as_username: 'bob' }), image, onProgress: (p) => progress.push(p.done) });
    expect(progress.at(-1)).toBe(true);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'rootfs']);
    expect(bundle.rootfsMode).toBe('copy');
    expect(existsSync(join(bundle.rootfs, 'bin/busybox'))).toBe(true);
    const written = JSON.parse(await readFile(bundle.configPath, 'utf8')) as unknown;
    expect(written).toEqual(bundle.spec);
    const spec = ociRuntimeSpecSchema.parse(written);
    expect(spec.root).toEqual({ path: 'rootfs' });
    expect(spec.process.user).toEqual({ uid: 1001, gid: 1001, additionalGids: [1001, 50] });
    expect(spec.process.args).toEqual(['sh']);
    expect(spec.process.cwd).toBe('/work');
    expect(spec.process.env).toContain('IMAGE_VAR=from-image');
    await bundle.remove();
    expect(existsSync(dir)).toBe(false);
  });

  it.skipIf(missing({ root: true }))('with a LayerCache: an overlay rootfs that remove() unmounts; a failure after the mount unmounts too', async () => {
    const cache = new LayerCache({ root: join(work, 'cache') });
    const dir = join(work, 'b-overlay');
    const bundle = await writeBundle(dir, { containerId: 'ov', request: req({ run_as_username: 'alice' }), image, rootfsProvider: cache, rootfsMode: 'overlay' });
    expect(bundle.rootfsMode).toBe('overlay');
    expect(await mountsBelow(dir)).toEqual([join(dir, 'rootfs')]);
    expect(bundle.spec.root).toEqual({ path: 'rootfs' });
    expect(bundle.spec.process.user).toMatchObject({ uid: 1000, gid: 1000 });
    await bundle.remove();
    expect(await mountsBelow(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);

    const failed = join(work, 'b-overlay-fail');
    await expect(writeBundle(failed, { containerId: 'ov2', request: req({ run_as_username: 'mallory' }), image, rootfsProvider: cache, rootfsMode: 'overlay' })).rejects.toBeInstanceOf(CriValidationError);
    expect(await mountsBelow(failed)).toEqual([]);
    expect(existsSync(failed)).toBe(false);
    // the cached layers stay for the next container
    expect((await readdir(join(work, 'cache'))).length).toBeGreaterThan(0);
  });

  it('resolves symlinked host paths of mounts', async () => {
    const target = join(work, 'real-data');
    await mkdir(target);
    const { symlink } = await import('node:fs/promises');
    await symlink(target, join(work, 'data-link'));
    const bundle = await writeBundle(join(work, 'b-links'), {
      containerId: 'c2',
      request: req({}, { mounts: [{ container_path: '/data', host_path: join(work, 'data-link') }] }),
      image,
    });
    expect(bundle.spec.mounts?.at(-1)).toEqual({ destination: '/data', type: 'bind', source: target, options: ['rbind', 'rprivate', 'rw'] });
    await bundle.remove();
  });

  it('a mapping error removes the bundle directory and the parents it created', async () => {
    const parent = join(work, 'fresh', 'deeper');
    const error = await writeBundle(join(parent, 'c3'), { containerId: 'c3', request: req({ run_as_username: 'mallory' }), image }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CriValidationError);
    expect((error as CriValidationError).issues[0]).toMatchObject({ path: 'config.linux.securityContext.runAsUsername', code: 'user_not_found' });
    expect(existsSync(join(work, 'fresh'))).toBe(false);
  });

  it('a missing host path is a NotFound issue and nothing is left', async () => {
    const dir = join(work, 'b-missing');
    const error = await writeBundle(dir, { containerId: 'c4', request: req({}, { mounts: [{ container_path: '/x', host_path: join(work, 'does-not-exist') }] }), image }).catch((e: unknown) => e);
    expect((error as CriValidationError).issues[0]).toMatchObject({ path: 'config.mounts[0].hostPath', code: 'not_found', grpcStatus: 'NotFound' });
    expect(existsSync(dir)).toBe(false);
  });

  it('createMissingHostPaths makes missing mount sources (containerd) and removes them when the write fails', async () => {
    const source = join(work, 'new-src', 'a', 'b');
    const ok = await writeBundle(join(work, 'b-create'), {
      containerId: 'c7',
      request: req({}, { mounts: [{ container_path: '/x', host_path: source }] }),
      image,
      createMissingHostPaths: true,
    });
    expect((await stat(source)).isDirectory()).toBe(true);
    expect(ok.spec.mounts?.at(-1)?.source).toBe(source);
    await ok.remove();
    await rm(join(work, 'new-src'), { recursive: true });

    const dir = join(work, 'b-create-fail');
    await expect(
      writeBundle(dir, { containerId: 'c8', request: req({ run_as_username: 'mallory' }, { mounts: [{ container_path: '/x', host_path: source }] }), image, createMissingHostPaths: true }),
    ).rejects.toBeInstanceOf(CriValidationError);
    expect(existsSync(join(work, 'new-src'))).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('never touches an existing directory', async () => {
    const dir = join(work, 'existing');
    await mkdir(dir);
    await writeFile(join(dir, 'keep.txt'), 'mine');
    await expect(writeBundle(dir, { containerId: 'c5', request: req(), image })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await readFile(join(dir, 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('an aborted signal or a failing rootfs provider leaves nothing behind; the provider’s rootfs is released', async () => {
    const dir = join(work, 'b-abort');
    await expect(writeBundle(dir, { containerId: 'c6', request: req(), image, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(existsSync(dir)).toBe(false);

    const released: string[] = [];
    const provider: RootfsProvider = {
      async createRootfs(_image, targetDir) {
        const rootfs = join(targetDir, 'rootfs');
        await mkdir(join(rootfs, 'etc'), { recursive: true });
        await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
        return { path: rootfs, mode: 'copy', release: async () => void released.push(rootfs) };
      },
    };
    // The provider succeeds, then the spec fails (no such user in this rootfs): the rootfs is released.
    await expect(writeBundle(dir, { containerId: 'c6', request: req({ run_as_username: 'bob' }), image, rootfsProvider: provider })).rejects.toBeInstanceOf(CriValidationError);
    expect(released).toEqual([join(dir, 'rootfs')]);
    expect(existsSync(dir)).toBe(false);

    const failing: RootfsProvider = { createRootfs: async () => Promise.reject(new Error('disk full')) };
    await expect(writeBundle(dir, { containerId: 'c6', request: req(), image, rootfsProvider: failing })).rejects.toMatchObject({ code: 'ERR_BUNDLE', message: expect.stringContaining('disk full') });
    expect(existsSync(dir)).toBe(false);
  });

  it('rejects bad options naming the field', async () => {
    await expect(writeBundle(join(work, 'x'), { containerId: '../evil', request: req(), image })).rejects.toThrow(/containerId/);
    await expect(writeBundle(join(work, 'x'), { containerId: 'ok', request: req(), image, rootfsMode: 'zfs' as never })).rejects.toThrow(/rootfsMode/);
  });
});
