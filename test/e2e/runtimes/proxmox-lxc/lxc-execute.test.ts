/**
 * The rootfs-mode template is a real LXC root filesystem: the runtime creates a CT on the
 * simulator as PVE 8.4, the template the simulator stored is extracted the way pve-container
 * does (`tar xpf --numeric-owner --xattrs`), and `lxc-execute` runs its `/sbin/init` — the
 * generated init that runs the CRI process with its env, cwd and exit status.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingBusybox, type BusyboxImage } from '../../../helpers/busybox-image.js';
import { missing } from '../../../helpers/requirements.js';
import { buildBusyboxImage, request, startWorld, type LxcWorld } from '../../../integration/runtimes/proxmox-lxc/helpers.js';

const run = promisify(execFile);
const skip = missing({ root: true, tools: ['lxc-execute', 'umoci', 'getfattr', 'setfattr', 'tar'] }) ?? missingBusybox();

describe.skipIf(skip)('rootfs-mode template under lxc-execute', () => {
  let busybox: BusyboxImage;
  let world: LxcWorld;
  let work: string;

  beforeAll(async () => {
    busybox = await buildBusyboxImage();
    world = await startWorld(busybox, '8.4');
    work = await mkdtemp(join(tmpdir(), 'lxcri-lxc-exec-'));
  }, 60_000);
  afterAll(async () => {
    await world?.close();
    await busybox?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Extracts the CT's template as pve-container does and runs its init; returns stdout, stderr and the exit code. */
  async function execute(templateVolid: string, name: string): Promise<{ stdout: string; stderr: string; code: number }> {
    const template = world.sim.state.volumePath('pve1', templateVolid) as string;
    const rootfs = join(work, name, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    await run('tar', ['xpf', template, '-C', rootfs, '--numeric-owner', '--xattrs', '--xattrs-include=user.*', '--xattrs-include=security.capability', '--warning=no-xattr-write']);
    for (const dir of ['proc', 'sys', 'dev']) await mkdir(join(rootfs, dir), { recursive: true });
    const config = join(work, name, 'config');
    await writeFile(
      config,
      [`lxc.uts.name = ${name}`, `lxc.rootfs.path = dir:${rootfs}`, 'lxc.net.0.type = empty', 'lxc.mount.auto = proc:mixed sys:ro', 'lxc.autodev = 1', 'lxc.console.path = none', ''].join('\n'),
    );
    try {
      const { stdout, stderr } = await run('lxc-execute', ['-n', name, '-P', work, '-f', config, '--', '/sbin/init'], { timeout: 60_000 });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; code?: number };
      if (typeof e.code !== 'number') throw error;
      return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code };
    }
  }

  it('runs the CRI process with its args, env and cwd', async () => {
    const ct = await world.runtime.create(request(), world.image, { containerId: 'e2e-1' });
    expect(ct.mode).toBe('rootfs');
    const result = await execute(ct.templateVolid, 'lxcri-e2e-1');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toEqual(['hello from lxcri', '/work', 'IMAGE_VAR=from-image', '']);
  }, 60_000);

  it('the init exits with the process status, env from the image and the request', async () => {
    const req = request({
      name: 'exit',
      config: { command: ['sh', '-c', 'env | grep -E "^(GREETING|SHARED|PATH)=" | sort; pwd; exit 7'], args: [], workingDir: '/tmp', envs: [{ key: 'GREETING', value: "it's quoted" }] },
    });
    const ct = await world.runtime.create(req, world.image, { containerId: 'e2e-2' });
    const result = await execute(ct.templateVolid, 'lxcri-e2e-2');
    expect(result.code).toBe(7);
    expect(result.stdout.split('\n')).toEqual(["GREETING=it's quoted", 'PATH=/bin', 'SHARED=image', '/tmp', '']);
  }, 60_000);
});
