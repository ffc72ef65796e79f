/**
 * The Linux host inspector against real mounts: a child in its own mount namespace makes a shared
 * and a slave tmpfs mount; the inspector reads that child's mountinfo and reports them. Device
 * checks use the real /dev/null and a regular file.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLinuxHostInspector } from '../../../src/exports/cri.js';
import { parseMountinfo } from '../../../src/cri/host-inspector.js';
import { missing } from '../../helpers/requirements.js';

const root = mkdtempSync(join(tmpdir(), 'lxcri-host-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('createLinuxHostInspector (files)', () => {
  it('tells device nodes, directories, other files and missing paths apart', async () => {
    const host = createLinuxHostInspector();
    const file = join(root, 'file');
    writeFileSync(file, 'x');
    expect(await host.pathKind('/dev/null')).toBe('char-device');
    expect(await host.pathKind(root)).toBe('directory');
    expect(await host.pathKind(file)).toBe('other');
    expect(await host.pathKind(join(root, 'absent'))).toBe('missing');
    expect(await host.pathKind(join(file, 'below-a-file'))).toBe('missing');
  });

  it('finds the mount a path lives on in the real /proc/self/mountinfo', async () => {
    const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    expect(mounts.some((m) => m.mountPoint === '/')).toBe(true);
    const proc = await createLinuxHostInspector().mountPropagation('/proc/self');
    expect(proc?.mountPoint).toBe('/proc');
    expect(await createLinuxHostInspector().mountPropagation(join(root, 'absent'))).toBeUndefined();
  });

  it('reads loaded AppArmor profiles from the profiles file, and says when AppArmor is absent', async () => {
    const profiles = join(root, 'profiles');
    writeFileSync(profiles, 'k8s-nginx (enforce)\ncri-containerd.apparmor.d (enforce)\n');
    const host = createLinuxHostInspector({ apparmorProfilesPath: profiles });
    expect(await host.apparmorProfileLoaded('k8s-nginx')).toBe(true);
    expect(await host.apparmorProfileLoaded('k8s')).toBe(false);
    expect(await createLinuxHostInspector({ apparmorProfilesPath: join(root, 'none') }).apparmorProfileLoaded('x')).toBeUndefined();
  });

  it('decodes escaped mount points', () => {
    const [mount] = parseMountinfo('36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n');
    expect(mount).toEqual({ mountPoint: '/mnt/with space', propagation: 'slave' });
  });
});

describe.skipIf(missing({ tools: ['unshare', 'mount'], root: true }))('createLinuxHostInspector (mount namespaces, root)', () => {
  let child: ChildProcess | undefined;
  afterAll(() => child?.kill('SIGKILL'));

  it('reports shared, slave and private propagation of real mounts', async () => {
    const shared = join(root, 'shared');
    const slave = join(root, 'slave');
    const priv = join(root, 'private');
    for (const dir of [shared, slave, priv]) mkdirSync(dir);
    const script = [
      'set -e',
      'mount --make-rprivate /',
      `mount -t tmpfs lxcri-shared ${shared}`,
      `mount --make-shared ${shared}`,
      `mount --bind ${shared} ${slave}`,
      `mount --make-slave ${slave}`,
      `mount -t tmpfs lxcri-private ${priv}`,
      'echo READY',
      'exec sleep 60',
    ].join('\n');
    child = spawn('unshare', ['-m', '--propagation', 'unchanged', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.on('data', (c: Buffer) => c.toString().includes('READY') && resolve());
      child?.once('exit', (code) => reject(new Error(`unshare exited ${code}: ${stderr}`)));
    });
    const host = createLinuxHostInspector({ mountinfoPath: `/proc/${child.pid}/mountinfo` });
    expect(await host.mountPropagation(shared)).toEqual({ propagation: 'shared', mountPoint: shared });
    expect(await host.mountPropagation(slave)).toEqual({ propagation: 'slave', mountPoint: slave });
    expect(await host.mountPropagation(priv)).toEqual({ propagation: 'private', mountPoint: priv });
  });
});
