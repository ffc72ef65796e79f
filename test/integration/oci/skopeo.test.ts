/**
 * Layouts and archives written by skopeo: an image built with umoci is copied by skopeo into a
 * layout with zstd layers and into an oci-archive; lxcri unpacks the zstd copy, and imports and
 * unpacks the archive, to the same tree umoci unpacks from the original.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout } from '../../../src/index.js';
import { unpackImage } from '../../../src/exports/oci.js';
import { buildFeatureImage, snapshotTree, type TreeNode } from '../../helpers/oci-fixtures.js';
import { missing } from '../../helpers/requirements.js';

describe.skipIf(missing({ root: true, tools: ['umoci', 'skopeo', 'setfattr', 'getfattr', 'mknod'] }))('images written by skopeo', () => {
  let work: string;
  let expected: Record<string, TreeNode>;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-skopeo-'));
    buildFeatureImage(join(work, 'src'), 'v1', work);
    execFileSync('umoci', ['unpack', '--image', `${join(work, 'src')}:v1`, join(work, 'by-umoci')]);
    expected = snapshotTree(join(work, 'by-umoci', 'rootfs'), { xattrs: true, mtimes: true });
    execFileSync('skopeo', ['copy', '--quiet', '--dest-compress-format', 'zstd', `oci:${join(work, 'src')}:v1`, `oci:${join(work, 'zstd')}:v1`]);
    execFileSync('skopeo', ['copy', '--quiet', `oci:${join(work, 'src')}:v1`, `oci-archive:${join(work, 'app.tar')}:docker.io/library/app:1.0`]);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('unpacks a skopeo layout with zstd layers to the tree umoci unpacks', async () => {
    const image = await (await openImageLayout(join(work, 'zstd'))).resolve('v1');
    expect(image.layers.length).toBeGreaterThanOrEqual(5);
    expect(image.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+zstd')).toBe(true);
    const result = await unpackImage(image, join(work, 'from-zstd'));
    expect(snapshotTree(result.rootfs, { xattrs: true, mtimes: true })).toEqual(expected);
  });

  it('imports a skopeo oci-archive and resolves it by short name', async () => {
    const store = await openImageLayout(join(work, 'store'), { create: true });
    const added = await store.importImage(join(work, 'app.tar'));
    expect(added.map((e) => e.refName)).toEqual(['docker.io/library/app:1.0']);
    const image = await store.resolve('app:1.0');
    const result = await unpackImage(image, join(work, 'from-archive'));
    expect(snapshotTree(result.rootfs, { xattrs: true, mtimes: true })).toEqual(expected);
  });
});
