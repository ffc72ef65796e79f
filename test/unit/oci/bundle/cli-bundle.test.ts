import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli/main.js';
import { ociRuntimeSpecSchema } from '../../../../src/oci/spec/runtime-spec.js';
import { buildBusyboxImage, missingBusybox, type BusyboxImage } from '../../../helpers/busybox-image.js';
import { missing } from '../../../helpers/requirements.js';
import { captureIo as captureIoAt, type CapturedIo } from '../../../helpers/cli-io.js';

const captureIo = (cwd: string): CapturedIo => captureIoAt(cwd);

const skip = missing({ tools: ['umoci'] }) ?? missingBusybox();

describe.skipIf(skip)('lxcri bundle', () => {
  let work: string;
  let img: BusyboxImage;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lxcri-cli-bundle-'));
    img = await buildBusyboxImage({ parent: work });
    await writeFile(
      join(work, 'container.json'),
      JSON.stringify({ metadata: { name: 'hello' }, image: { image: 'busybox' }, args: ['echo', 'hi'], linux: { security_context: { run_as_username: 'alice' } } }),
    );
    await writeFile(join(work, 'pod.json'), JSON.stringify({ metadata: { name: 'pod', uid: 'u1', namespace: 'default' }, hostname: 'clipod' }));
    await writeFile(
      join(work, 'request.json'),
      JSON.stringify({
        pod_sandbox_id: 'sb1',
        config: { metadata: { name: 'full' }, image: { image: 'busybox' }, working_dir: '/tmp' },
        sandbox_config: { metadata: { name: 'pod', uid: 'u1', namespace: 'default' }, hostname: 'h' },
      }),
    );
    await writeFile(
      join(work, 'sandbox-record.json'),
      JSON.stringify({ id: 'sb1', config: { metadata: { name: 'pod', uid: 'u1', namespace: 'default' }, hostname: 'h' }, namespacePaths: { network: '/proc/1/ns/net' } }),
    );
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('crictl style (container config + pod config) → a bundle with a valid config.json', async () => {
    const io = captureIo(work);
    const code = await main(['bundle', '--image', `${img.layout}:${img.tag}`, '--request', 'container.json', '--sandbox', 'pod.json', '--out', 'b1'], io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(io.out()) as Record<string, string>;
    expect(summary).toMatchObject({ bundle: join(work, 'b1'), config: join(work, 'b1/config.json'), rootfs: join(work, 'b1/rootfs'), rootfsMode: 'copy', containerId: 'b1', reference: img.tag });
    expect((await stat(join(work, 'b1'))).mode & 0o777).toBe(0o700);
    const spec = ociRuntimeSpecSchema.parse(JSON.parse(await readFile(join(work, 'b1/config.json'), 'utf8')));
    expect(spec.process.args).toEqual(['echo', 'hi']);
    expect(spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50, 44] });
    expect(spec.hostname).toBe('clipod');
  });

  it('a full request with a sandbox record joins its namespaces; --container-id is used in the spec', async () => {
    const io = captureIo(work);
    const code = await main(['bundle', '--image', img.layout, '--request', 'request.json', '--sandbox', 'sandbox-record.json', '--out', 'b2', '--container-id', 'cid-2'], io);
    expect(code).toBe(0);
    const spec = ociRuntimeSpecSchema.parse(JSON.parse(await readFile(join(work, 'b2/config.json'), 'utf8')));
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: '/proc/1/ns/net' });
    expect(spec.process.cwd).toBe('/tmp');
    expect(spec.annotations?.['io.kubernetes.cri.sandbox-id']).toBe('sb1');
  });

  it('invalid input exits 2 and leaves no bundle; missing options are usage errors', async () => {
    await writeFile(join(work, 'bad.json'), JSON.stringify({ metadata: { name: 'x' }, image: { image: 'b' }, linux: { security_context: { run_as_username: 'mallory' } } }));
    let io = captureIo(work);
    expect(await main(['bundle', '--image', img.layout, '--request', 'bad.json', '--sandbox', 'pod.json', '--out', 'b3'], io)).toBe(2);
    expect(JSON.parse(io.out())).toMatchObject({ error: { code: 'ERR_CRI_VALIDATION', details: { issues: [{ path: 'config.linux.securityContext.runAsUsername', code: 'user_not_found' }] } } });
    expect(existsSync(join(work, 'b3'))).toBe(false);
    io = captureIo(work);
    expect(await main(['bundle', '--image', img.layout, '--request', 'container.json', '--out', 'b4'], io)).toBe(2);
    expect(io.err()).toContain('--sandbox');
    io = captureIo(work);
    expect(await main(['bundle', '--request', 'container.json', '--out', 'b4'], io)).toBe(2);
    expect(io.err()).toContain('--image');
    io = captureIo(work);
    expect(await main(['bundle', '--image', img.layout, '--request', 'container.json', '--sandbox', 'pod.json', '--out', 'b1'], io)).toBe(1);
    expect(JSON.parse(io.out())).toMatchObject({ error: { code: 'ERR_ALREADY_EXISTS' } });
  });

  it('--cache builds the rootfs through the layer cache (copy mode here; overlay is covered by the writeBundle tests)', async () => {
    const io = captureIo(work);
    const code = await main(['bundle', '--image', img.layout, '--request', 'container.json', '--sandbox', 'pod.json', '--out', 'b5', '--cache', 'cache', '--rootfs-mode', 'copy'], io);
    expect(code).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ rootfsMode: 'copy' });
    expect(existsSync(join(work, 'b5/rootfs/bin/busybox'))).toBe(true);
    expect(existsSync(join(work, 'cache'))).toBe(true);
    const bad = captureIo(work);
    expect(await main(['bundle', '--image', img.layout, '--request', 'container.json', '--sandbox', 'pod.json', '--out', 'b6', '--rootfs-mode', 'zfs'], bad)).toBe(2);
  });

  it('has --help', async () => {
    const io = captureIo(work);
    expect(await main(['bundle', '--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage: lxcri bundle --image DIR[:REF] --request REQUEST.json [--sandbox POD.json] --out BUNDLE');
  });
});
