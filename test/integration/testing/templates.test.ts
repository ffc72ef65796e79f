/**
 * The simulator reads templates as `pct create` does (issue #13, simulator items 1, 2, 4, 5):
 * broken archives fail the create task with tar's / the OCI reader's errors in the log, OCI
 * archives are recognised by their layout, the OS type and architecture come from the contents,
 * and every network interface gets `type=veth` and a random locally administered `hwaddr`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { describe, expect, it, vi } from 'vitest';
import type { PveSimulatorOptions } from '../../../src/testing/index.js';
import { FRONT_ENDS, useFrontEnd, type PveHttp } from './pve-http.js';
import { compressFor, distroTree, elfHead, ociArchive, packTree, rootfsTemplate } from './templates.js';

/** Commands of this process's child processes. */
function childCommands(): string[] {
  try {
    return execFileSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split('\n').map((l) => l.trim());
  } catch {
    return []; // ps exits 1 when there is no child
  }
}

describe.each(FRONT_ENDS)('PVE simulator template reading (%s)', (frontEnd) => {
  const sim = useFrontEnd(frontEnd);
  let http: PveHttp;
  let vmid = 400;

  async function start(options: PveSimulatorOptions = {}): Promise<PveHttp> {
    http = (await sim.start(options)).http;
    return http;
  }
  async function put(name: string, data: Buffer | string): Promise<string> {
    const volid = `local:vztmpl/${name}`;
    await writeFile(sim.handle!.state.volumePath('pve1', volid)!, data);
    return volid;
  }
  /** Creates a CT from `volid`; returns the task's exit status, its log and the config (if any). */
  async function create(volid: string, params: Record<string, string | number> = {}): Promise<{ vmid: number; exit: string; log: string[]; config?: Record<string, unknown> }> {
    const id = vmid++;
    const reply = await http.call('POST', '/nodes/pve1/lxc', { vmid: id, ostemplate: volid, rootfs: 'local-lvm:1', ...params });
    expect(reply.status, reply.statusText).toBe(200);
    const upid = reply.body.data as string;
    const status = await http.waitTask(upid);
    const log = ((await http.call('GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log`, { limit: 500 })).body.data as { t: string }[]).map((l) => l.t);
    const config = await http.call('GET', `/nodes/pve1/lxc/${id}/config`);
    return { vmid: id, exit: status.exitstatus ?? '', log, ...(config.status === 200 ? { config: config.body.data as Record<string, unknown> } : {}) };
  }

  it('fails the create task like tar for archives that are not what their name says (item 5)', async () => {
    await start();
    const gz = await create(await put('broken.tar.gz', 'this is not gzip'));
    expect(gz.exit).toMatch(/^unable to create CT \d+ - command 'lxc-usernsexec -m u:0:100000:65536 -m g:0:100000:65536 -- tar xpf - -z --totals .* -C \/var\/lib\/lxc\/\d+\/rootfs .*' failed: exit code 2$/);
    expect(gz.log).toEqual(expect.arrayContaining(['gzip: stdin: not in gzip format', 'tar: Child returned status 1', 'tar: Error is not recoverable: exiting now']));
    expect(gz.log.findIndex((l) => l.startsWith('extracting archive'))).toBeLessThan(gz.log.indexOf('gzip: stdin: not in gzip format'));
    expect(gz.config).toBeUndefined(); // the CT is gone again

    const plain = await create(await put('text.tar', 'hello world\n'.repeat(100)));
    expect(plain.exit).toMatch(/tar xpf - --totals .*' failed: exit code 2$/);
    expect(plain.log).toContain('tar: This does not look like a tar archive');

    const truncated = await create(await put('cut.tar.gz', compressFor('x.tar.gz', (await packTree(distroTree('debian'))).subarray(0, 700))));
    expect(truncated.log).toContain('tar: Unexpected EOF in archive');

    const zst = await create(await put('broken.tar.zst', 'not zstd either'));
    expect(zst.exit).toMatch(/tar xpf - --zstd .*failed: exit code 2$/);
    expect(zst.log.some((l) => /zstd|Cannot exec/.test(l))).toBe(true);

    // a big archive that is not a tar: the reader gives up at once and the decompressor does not linger
    const bigGarbage = await create(await put('big.tar.zst', compressFor('x.tar.zst', randomBytes(16 << 20))));
    expect(bigGarbage.log).toContain('tar: This does not look like a tar archive');
    await vi.waitFor(() => expect(childCommands()).not.toContain('zstd'), { timeout: 5000, interval: 20 });

    const privileged = await create(await put('p.tar.gz', 'x'), { unprivileged: 0 });
    expect(privileged.exit).toMatch(/^unable to create CT \d+ - command 'tar xpf - -z /);
    expect(privileged.log).toContain('gzip: stdin: unexpected end of file');

    const unknownCompression = await create(await put('odd.tar.lz4', 'x'));
    expect(unknownCompression.exit).toMatch(/ - unrecognized compression format: \.lz4$/);

    const good = await create(await put('fine.tar.zst', await rootfsTemplate('fine.tar.zst', 'debian')));
    expect(good.exit).toBe('OK');
    expect(good.log.find((l) => l.startsWith('Total bytes read: '))).toMatch(/^Total bytes read: \d+ \(/);
  });

  it('recognises PVE 9.1 OCI archives by their layout, and fails on a broken one (item 5)', async () => {
    await start();
    const oci = await create(await put('app_1.0.tar', await ociArchive({ Cmd: ['/bin/sh'] })));
    expect(oci.exit).toBe('OK');
    expect(oci.log).toEqual(expect.arrayContaining(['Detected OCI archive', 'unpacking OCI image (1 layer)']));
    expect(oci.config).toMatchObject({ entrypoint: '/bin/sh', cmode: 'console', ostype: 'alpine' });

    // a plain rootfs .tar (no oci-layout) is unpacked as a rootfs
    const rootfsTar = await create(await put('rootfs.tar', await packTree(distroTree('fedora'))));
    expect(rootfsTar.exit).toBe('OK');
    expect(rootfsTar.log).not.toContain('Detected OCI archive');
    expect(rootfsTar.config).toMatchObject({ ostype: 'fedora' });

    const broken = await packTree({ 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'index.json': '{"schemaVersion":2,"manifests":[{"digest":"sha256:' + 'a'.repeat(64) + '"}]}', 'blobs/': { dir: true } });
    const bad = await create(await put('bad_oci.tar', broken));
    expect(bad.exit).toMatch(/^unable to create CT \d+ - failed to parse OCI image - /);
    expect(bad.log.indexOf('Detected OCI archive')).toBeGreaterThanOrEqual(0);
    expect(bad.log.indexOf('Detected OCI archive')).toBeLessThan(bad.log.findIndex((l) => l.startsWith('TASK ERROR')));

    // 8.4 knows no OCI archives: the same archive is unpacked as a plain tar (and has no OS)
    await start({ version: '8.4' });
    const old = await create(await put('app_1.0.tar', await ociArchive({ Cmd: ['/bin/sh'] })));
    expect(old.exit).toMatch(/unable to detect OS distribution$/);
    expect(old.log).not.toContain('Detected OCI archive');
  });

  it('takes the OS type and architecture from the contents, not the name (item 2)', async () => {
    await start();
    const misnamed = await create(await put('debian-12-standard_12.7-1_amd64.tar.gz', await rootfsTemplate('x.tar.gz', 'alpine')));
    expect(misnamed.config).toMatchObject({ ostype: 'alpine', arch: 'amd64' });

    const fallback = await create(await put('custom.tar.gz', await rootfsTemplate('x.tar.gz', null, { 'etc/debian_version': '12.7\n' })));
    expect(fallback.config).toMatchObject({ ostype: 'debian' });
    const alias = await create(await put('leap.tar.gz', await rootfsTemplate('x.tar.gz', 'opensuse-leap')));
    expect(alias.config).toMatchObject({ ostype: 'opensuse' });
    const usrlib = await create(await put('usrlib.tar.gz', compressFor('x.tar.gz', await packTree({ ...distroTree(null), 'usr/lib/os-release': 'ID="ubuntu"\n', 'etc/os-release': { symlink: '../usr/lib/os-release' } }))));
    expect(usrlib.config).toMatchObject({ ostype: 'ubuntu' });

    const arm = await create(await put('arm.tar.gz', compressFor('x.tar.gz', await packTree({ ...distroTree('debian'), 'bin/busybox': elfHead(0xb7) }))));
    expect(arm.config).toMatchObject({ arch: 'arm64' });
    expect(arm.log).toContain('Detected container architecture: arm64');

    const none = await create(await put('busybox.tar.gz', await rootfsTemplate('x.tar.gz', null)));
    expect(none.exit).toMatch(/^unable to create CT \d+ - unable to detect OS distribution$/);
    const unmanaged = await create('local:vztmpl/busybox.tar.gz', { ostype: 'unmanaged' });
    expect([unmanaged.exit, unmanaged.config?.['ostype']]).toEqual(['OK', 'unmanaged']);

    const mismatch = await create('local:vztmpl/leap.tar.gz', { ostype: 'debian' });
    expect(mismatch.exit).toBe('WARNINGS: 1');
    expect(mismatch.log).toContain('WARN: got unexpected ostype (opensuse != debian)');

    // OCI: layers in order, whiteouts applied
    const layered = await ociArchive({ Entrypoint: ['/app'] }, [distroTree('alpine'), { 'etc/.wh.os-release': '', 'etc/debian_version': 'trixie/sid\n' }]);
    const oci = await create(await put('layered.tar', layered));
    expect(oci.config).toMatchObject({ ostype: 'debian', entrypoint: '/app' });
    const scratch = await create(await put('scratch.tar', await ociArchive({ Entrypoint: ['/app'] }, [{ app: elfHead() }])));
    expect(scratch.config).toMatchObject({ ostype: 'unmanaged' });
    expect(scratch.log).toEqual(expect.arrayContaining(['Falling back to amd64.']));
  });

  it('adds type=veth and a random hwaddr to every interface on create and config update (item 1), and reports a missing template (item 4)', async () => {
    await start();
    const volid = await put('d.tar.gz', await rootfsTemplate('d.tar.gz', 'debian'));
    const ct = await create(volid, { net0: 'name=eth0,bridge=vmbr0,ip=dhcp', net1: 'name=eth1,bridge=vmbr1,hwaddr=BC:24:11:00:00:01,firewall=1' });
    expect(ct.config?.['net0']).toMatch(/^name=eth0,bridge=vmbr0,hwaddr=([0-9A-F]{2}:){5}[0-9A-F]{2},ip=dhcp,type=veth$/);
    expect(ct.config?.['net1']).toBe('name=eth1,bridge=vmbr1,firewall=1,hwaddr=BC:24:11:00:00:01,type=veth');
    const first = parseInt(String(ct.config?.['net0']).split('hwaddr=')[1]!.slice(0, 2), 16);
    expect(first & 0x03).toBe(0x02); // locally administered, unicast
    const other = await create(volid, { net0: 'name=eth0,bridge=vmbr0' });
    expect(String(other.config?.['net0']).split('hwaddr=')[1]).not.toBe(String(ct.config?.['net0']).split('hwaddr=')[1]);

    expect((await http.call('PUT', `/nodes/pve1/lxc/${ct.vmid}/config`, { net2: 'name=eth2,bridge=vmbr0' })).status).toBe(200);
    const after = (await http.call('GET', `/nodes/pve1/lxc/${ct.vmid}/config`)).body.data as Record<string, unknown>;
    expect(after['net2']).toMatch(/^name=eth2,bridge=vmbr0,hwaddr=[0-9A-F:]{17},type=veth$/);

    const missing = await create('local:vztmpl/never-uploaded.tar.gz');
    expect(missing.exit).toBe(`unable to create CT ${missing.vmid} - can't find file 'local:vztmpl/never-uploaded.tar.gz'`);
    expect(missing.config).toBeUndefined();
  });
});
