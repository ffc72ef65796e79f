import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriValidationError } from '../../../../src/errors.js';
import { createMissingHostPaths } from '../../../../src/oci/bundle/host-paths.js';
import { collectSpecInputs } from '../../../../src/oci/spec/collect.js';
import { GROUP, PASSWD, request } from '../spec/fixtures.js';

let work: string;
let rootfs: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-host-paths-'));
  rootfs = join(work, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc/group'), GROUP);
  await mkdir(join(work, 'data'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('createMissingHostPaths', () => {
  it('is a separate step: collecting creates nothing, the step makes each missing source 0755 and reports the top-most directory', async () => {
    const missing = join(work, 'made/a/b');
    const r = request({ config: { mounts: [{ container_path: '/m', host_path: missing }, { container_path: '/d', host_path: join(work, 'data') }] } });
    await expect(collectSpecInputs(r, { rootfs })).rejects.toBeInstanceOf(CriValidationError);
    expect(existsSync(join(work, 'made'))).toBe(false);
    const created: string[] = [];
    await createMissingHostPaths(r, created);
    expect(created).toEqual([join(work, 'made')]);
    expect((await stat(missing)).mode & 0o777).toBe(0o755);
    expect((await collectSpecInputs(r, { rootfs })).hostPaths[missing]).toBe(missing);
  });

  it('leaves existing sources and image mounts alone, and stops on an aborted signal', async () => {
    const r = request({ config: { mounts: [{ container_path: '/d', host_path: join(work, 'data') }, { container_path: '/img', image: { image: 'x' }, readonly: true }] } });
    const created: string[] = [];
    await createMissingHostPaths(r, created);
    expect(created).toEqual([]);
    const later = request({ config: { mounts: [{ container_path: '/m', host_path: join(work, 'aborted') }] } });
    await expect(createMissingHostPaths(later, created, AbortSignal.abort())).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(existsSync(join(work, 'aborted'))).toBe(false);
  });
});
