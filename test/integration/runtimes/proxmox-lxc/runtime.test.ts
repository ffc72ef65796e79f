/**
 * ProxmoxLxcRuntime against the PVE simulator over real HTTPS, as PVE 8.4 (rootfs mode: the
 * flattened image as a .tar.gz template) and PVE 9.1 (OCI mode: the image as an OCI archive):
 * mapped CT parameters read back from GET config, one upload per image (also for 10 concurrent
 * creates), rollback after failures, recovery after a lost create answer, the lifecycle verbs,
 * list() from the description marker, and pruneTemplates. Every request must pass the
 * simulator's parameter checks.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { ProxmoxClient } from '../../../../src/proxmox/client.js';
import { ProxmoxLxcRuntime } from '../../../../src/runtimes/proxmox-lxc/runtime.js';
import { formatMarker, parseMarker } from '../../../../src/runtimes/proxmox-lxc/ct-params.js';
import { caught } from '../../../helpers/caught.js';
import { missingBusybox, type BusyboxImage } from '../../../helpers/busybox-image.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';
import { missing } from '../../../helpers/requirements.js';
import { until } from '../../../helpers/wait.js';
import { buildBusyboxImage, request, startWorld, type LxcWorld } from './helpers.js';

const skip = missing({ root: true, tools: ['umoci', 'getfattr', 'setfattr'] }) ?? missingBusybox();

describe.skipIf(skip).each(['8.4', '9.1'] as const)('ProxmoxLxcRuntime on the simulator (PVE %s)', (version) => {
  const mode = version === '9.1' ? 'oci' : 'rootfs';
  let busybox: BusyboxImage;
  let world: LxcWorld | undefined;
  const open = async (...args: Parameters<typeof startWorld> extends [unknown, unknown, ...infer R] ? R : never): Promise<LxcWorld> => {
    world = await startWorld(busybox, version, ...args);
    return world;
  };

  beforeAll(async () => {
    busybox = await buildBusyboxImage();
  }, 60_000);
  afterAll(async () => {
    await busybox?.cleanup();
  });
  afterEach(async () => {
    if (!world) return;
    // every request of the test passed the simulator's parameter checks
    const refused = world.sim.state.requestLog.filter((e) => e.status === 400 && !(e.path === '/cluster/nextid' && e.params['vmid'] !== undefined));
    const w = world;
    world = undefined;
    await w.close();
    expect(refused.map((e) => `${e.method} ${e.path} ${e.statusText}`)).toEqual([]);
  });

  const uploads = (w: LxcWorld): number => w.sim.state.requestLog.filter((e) => e.method === 'POST' && /\/upload$/.test(e.path)).length;

  it('creates a CT whose config reads back exactly the mapped parameters', async () => {
    const w = await open();
    const progress: string[] = [];
    const ct = await w.runtime.create(request(), w.image, { containerId: 'ctr-1', onProgress: (p) => progress.push(p.phase) });
    expect(ct.mode).toBe(mode);
    expect(ct.node).toBe('pve1');
    expect(ct.templateVolid).toMatch(mode === 'oci' ? /^local:vztmpl\/lxcri-[0-9a-f]{16}\.tar$/ : /^local:vztmpl\/lxcri-[0-9a-f]{16}-[0-9a-f]{8}-unmanaged\.tar\.gz$/);
    expect(new Set(progress)).toEqual(
      new Set(['placement', 'template-lookup', ...(mode === 'rootfs' ? ['rootfs'] : []), 'template-build', 'upload', 'template-task', 'create', ...(mode === 'oci' ? ['configure'] : [])]),
    );

    const { digest: _digest, ...config } = await w.client.lxc.config(ct.node, ct.vmid);
    const description = formatMarker({ containerId: 'ctr-1', name: 'app', attempt: 1, sandboxId: 'sandbox-1', imageDigest: w.image.manifestDigest, template: ct.templateVolid, mode });
    const command = `/bin/sh "-c" 'echo "hello from $GREETING"; pwd; echo "IMAGE_VAR=$IMAGE_VAR"'`;
    expect(config).toEqual({
      arch: 'amd64',
      hostname: 'web-pod-example',
      memory: 101,
      swap: 199,
      cores: 2,
      cpulimit: 1.5,
      cpuunits: 20,
      ostype: 'unmanaged',
      rootfs: `local-lvm:vm-${ct.vmid}-disk-0,size=4G`,
      // PVE adds type=veth and a random locally administered hwaddr; 9.1 adds host-managed=1 to
      // every net[n] of an application container
      net0: expect.stringMatching(new RegExp(`^name=eth0,bridge=vmbr0,${mode === 'oci' ? 'host-managed=1,' : ''}hwaddr=[0-9A-F]{2}(:[0-9A-F]{2}){5},ip=dhcp,type=veth$`)),
      unprivileged: 1,
      features: 'nesting=1',
      tags: 'lxcri',
      description,
      ...(mode === 'oci'
        ? { entrypoint: command, cmode: 'console', env: 'PATH=/bin\0HOSTNAME=Web_Pod.example\0IMAGE_VAR=from-image\0SHARED=image\0GREETING=lxcri' }
        : {}),
    });
    expect(parseMarker(config['description'])).toMatchObject({ containerId: 'ctr-1', imageDigest: w.image.manifestDigest });
    expect(uploads(w)).toBe(1);
    const create = w.sim.state.requestLog.find((e) => e.method === 'POST' && e.path === '/nodes/pve1/lxc');
    expect(create?.params).toMatchObject({ start: '0', unprivileged: '1', storage: 'local-lvm', ostemplate: ct.templateVolid });
  });

  it('reuses the cached template: a second create uploads nothing', async () => {
    const w = await open();
    const a = await w.runtime.create(request(), w.image, { containerId: 'ctr-a' });
    // a new runtime (another process) finds the template on the storage
    const b = await w.makeRuntime().create(request({ name: 'app2' }), w.image, { containerId: 'ctr-b' });
    expect(b.templateVolid).toBe(a.templateVolid);
    expect(b.vmid).not.toBe(a.vmid);
    expect(uploads(w)).toBe(1);
  });

  it('10 concurrent creates of one image: 1 upload, 10 CTs, 10 distinct VMIDs', async () => {
    const w = await open();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => w.runtime.create(request({ name: `c${i}` }), w.image, { containerId: `ctr-${i}` })));
    expect(uploads(w)).toBe(1);
    expect(new Set(results.map((r) => r.vmid)).size).toBe(10);
    expect(new Set(results.map((r) => r.templateVolid)).size).toBe(1);
    expect(w.sim.state.cts.size).toBe(10);
    const listed = await w.runtime.list();
    expect(listed.map((c) => c.containerId).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `ctr-${i}`).sort());
  }, 60_000);

  it('a failing create task leaves no CT', async () => {
    const w = await open();
    w.sim.state.addFault({ kind: 'task-failure', taskType: 'vzcreate', exitStatus: 'unable to create CT - disk full', times: 1 });
    const error = await caught(w.runtime.create(request(), w.image, { containerId: 'ctr-fail' }));
    expect(error).toMatchObject({ code: 'ERR_PVE_TASK' });
    expect(error.message).toContain('disk full');
    expect(error.message).toMatch(/rollback: CT \d+ was not left behind/);
    expect(w.sim.state.cts.size).toBe(0);
  });

  it.runIf(version === '9.1')('a failure after create (the config PUT) destroys the CT and reports both', async () => {
    const w = await open();
    w.sim.state.addFault({ kind: 'http-error', match: { method: 'PUT', path: /\/lxc\/\d+\/config$/ }, status: 500, message: 'injected config failure', times: 10 });
    const error = await caught(w.runtime.create(request(), w.image, { containerId: 'ctr-put' }));
    expect(error).toMatchObject({ code: 'ERR_PVE_HTTP', grpcStatus: 'Internal' });
    expect(error.message).toMatch(/injected config failure.*\(rollback: CT \d+ destroyed\)/);
    expect(w.sim.state.cts.size).toBe(0);
    const destroy = w.sim.state.requestLog.find((e) => e.method === 'DELETE' && /\/lxc\/\d+$/.test(e.path));
    expect(destroy?.params).toMatchObject({ purge: '1' });
  });

  it('a lost answer to the create POST leaves exactly one CT, found by its marker', async () => {
    const w = await open();
    w.sim.state.addFault({ kind: 'lose-response', match: { method: 'POST', path: '/nodes/pve1/lxc' }, times: 1 });
    const ct = await w.runtime.create(request(), w.image, { containerId: 'ctr-lost' });
    expect(w.sim.state.cts.size).toBe(1);
    expect(w.sim.state.cts.get(ct.vmid)).toBeDefined();
    const posts = w.sim.state.requestLog.filter((e) => e.method === 'POST' && e.path === '/nodes/pve1/lxc');
    expect(posts.map((e) => [e.fault, e.dropped])).toEqual([['lose-response', true]]);
    expect((await w.runtime.list()).map((c) => [c.containerId, c.vmid])).toEqual([['ctr-lost', ct.vmid]]);
  });

  it('start, status, stop, remove; remove is idempotent', async () => {
    const w = await open();
    const ct = await w.runtime.create(request(), w.image, { containerId: 'ctr-life' });
    expect(await w.runtime.status(ct)).toMatchObject({ state: 'created', pveStatus: 'stopped' });
    await w.runtime.start(ct);
    const running = await w.runtime.status(ct);
    expect(running).toMatchObject({ state: 'running', pveStatus: 'running' });
    expect(running.startedAt).toBeInstanceOf(Date);
    await w.runtime.start(ct); // already running: no error
    await w.runtime.stop(ct, 10);
    const exited = await w.runtime.status(ct);
    expect(exited).toMatchObject({ state: 'exited', pveStatus: 'stopped' });
    expect(exited.finishedAt?.getTime()).toBeGreaterThanOrEqual(exited.startedAt?.getTime() ?? Infinity);
    expect(w.sim.state.requestLog.some((e) => e.path.endsWith('/status/shutdown') && e.params['timeout'] === '10')).toBe(true);
    await w.runtime.stop(ct, 10); // stopped: nothing to do
    await w.runtime.remove(ct);
    expect(w.sim.state.cts.has(ct.vmid)).toBe(false);
    await w.runtime.remove(ct);
    expect(await w.runtime.status(ct)).toEqual({ state: 'unknown', pveStatus: 'missing' });
    // the VMID is free again and another process (its own client, so no memory of the last VMID)
    // reuses it: the new CT has not been started, whatever its predecessor did
    const { tokenId, tokenSecret } = w.sim.state.credentials;
    const other = new ProxmoxClient({ baseUrl: w.sim.url, auth: { type: 'token', tokenId: tokenId as string, secret: tokenSecret as string }, tls: { fingerprint256: w.sim.fingerprint256 }, tasks: { pollMinMs: 5, pollMaxMs: 40 } });
    try {
      const again = await new ProxmoxLxcRuntime(other, { layerCache: w.cache, workDir: join(w.work, 'tmp-other'), pollMs: 10 }).create(request(), w.image, { containerId: 'ctr-life-2' });
      expect(again.vmid).toBe(ct.vmid);
      expect(await w.runtime.status(again)).toMatchObject({ state: 'created' });
    } finally {
      await other.close();
    }
  });

  it('start waits for the create lock instead of failing with a lock timeout', async () => {
    const w = await open({ taskDurationsMs: { default: 10, vzcreate: 400 }, lockTimeoutMs: 100 });
    // the CT exists (locked) while its create task runs: start it from another "process"
    const creating = w.runtime.create(request(), w.image, { containerId: 'ctr-lock' });
    const [vmid] = await until(() => (w.sim.state.cts.size > 0 ? [...w.sim.state.cts.keys()] : undefined), 'the CT being created', { timeoutMs: 20_000, intervalMs: 5 });
    await w.makeRuntime().start({ node: 'pve1', vmid: vmid as number });
    await creating;
    expect(w.sim.state.cts.get(vmid as number)?.status).toBe('running');
  });

  it('pruneTemplates removes templates no CT was made from', async () => {
    const w = await open();
    const ct = await w.runtime.create(request(), w.image, { containerId: 'ctr-p' });
    expect((await w.runtime.pruneTemplates({})).removed).toEqual([]);
    await w.runtime.remove(ct);
    expect((await w.runtime.pruneTemplates({ keep: 1 })).removed).toEqual([]);
    expect((await w.runtime.pruneTemplates({ olderThan: 3_600_000 })).removed).toEqual([]);
    expect((await w.runtime.pruneTemplates({ olderThan: 0 })).removed).toEqual([ct.templateVolid]);
    const content = await w.client.storage.content('pve1', 'local', { content: 'vztmpl' });
    expect(content.map((c) => c.volid)).not.toContain(ct.templateVolid);
  });

  it.runIf(version === '8.4')('rootfs template: numeric owners, modes, symlinks, the generated /sbin/init', async () => {
    const w = await open();
    const ct = await w.runtime.create(request(), w.image, { containerId: 'ctr-tar' });
    const path = w.sim.state.volumePath('pve1', ct.templateVolid) as string;
    const listing = execFileSync('tar', ['-tvzf', path, '--numeric-owner'], { encoding: 'utf8' });
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 +0 .* \.\/tmp\/$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 +0 .* \.\/bin\/sh -> busybox$/m);
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 +\d+ .* \.\/sbin\/init$/m);
    const init = execFileSync('tar', ['-xzOf', path, './sbin/init'], { encoding: 'utf8' });
    expect(init).toContain("export GREETING='lxcri'");
    expect(init).toContain("cd '/work' || exit 127");
    expect(init).toContain(`exec '/bin/sh' '-c' 'echo "hello from $GREETING"; pwd; echo "IMAGE_VAR=$IMAGE_VAR"'`);
  });

  it('places CTs on the allowed nodes, with a template per node; list() keeps to the runtime\'s nodes', async () => {
    const w = await open({ nodes: ['pve1', 'pve2'] });
    const onTwo = w.makeRuntime({ nodes: ['pve2'] });
    const ct = await onTwo.create(request(), w.image, { containerId: 'n2' });
    expect(ct.node).toBe('pve2');
    expect(w.sim.state.requestLog.filter((e) => e.method === 'POST' && /\/upload$/.test(e.path)).map((e) => e.path)).toEqual(['/nodes/pve2/storage/local/upload']);
    expect((await onTwo.list()).map((c) => [c.node, c.containerId])).toEqual([['pve2', 'n2']]);
    expect(await w.makeRuntime({ node: 'pve1' }).list()).toEqual([]);
  });

  it('a malformed annotation is refused before any template work or request beyond /version', async () => {
    const w = await open();
    const error = await caught(w.runtime.create(request({ sandbox: { annotations: { 'lxcri.io/ip': 'dhcp-please' } } }), w.image, { containerId: 'bad-ip' }));
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTIONS', grpcStatus: 'InvalidArgument' });
    expect(w.sim.state.requestLog.map((e) => `${e.method} ${e.path}`)).toEqual(['GET /version']);
  });

  it('draws VMIDs from vmidRange', async () => {
    const w = await open();
    const runtime = w.makeRuntime({ vmidRange: { min: 5000, max: 5004 } });
    const cts = await Promise.all([0, 1, 2].map((i) => runtime.create(request({ name: `r${i}` }), w.image, { containerId: `range-${i}` })));
    expect(new Set(cts.map((c) => c.vmid)).size).toBe(3);
    for (const ct of cts) expect(ct.vmid).toBeGreaterThanOrEqual(5000);
    for (const ct of cts) expect(ct.vmid).toBeLessThanOrEqual(5004);
  });

  it('CRI mounts: bind mount points for root@pam; a token gets an error naming the rule', async () => {
    const w = await open();
    const withMount = request({ config: { mounts: [{ hostPath: '/srv/data', containerPath: '/data', readonly: true }] } });
    const error = await caught(w.runtime.create(withMount, w.image, { containerId: 'mnt-token' }));
    expect(error).toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
    expect(error.message).toMatch(/only the user root@pam.*mount point type bind is only allowed for root@pam/);
    expect(w.sim.state.cts.size).toBe(0);
    w.sim.state.requestLog.length = 0; // the refused POST was a 403, not a parameter error
    const root = new ProxmoxClient({
      baseUrl: w.sim.url,
      auth: { type: 'password', username: 'root@pam', password: w.sim.state.credentials.password },
      tls: { fingerprint256: w.sim.fingerprint256 },
      tasks: { pollMinMs: 5, pollMaxMs: 40, timeoutMs: 60_000, logPageSize: 50 },
    });
    try {
      const ct = await new ProxmoxLxcRuntime(root, { layerCache: w.cache, workDir: join(w.work, 'tmp-root'), pollMs: 10 }).create(withMount, w.image, { containerId: 'mnt-root' });
      expect((await root.lxc.config(ct.node, ct.vmid))['mp0']).toBe('/srv/data,mp=/data,backup=0,ro=1');
    } finally {
      await root.close();
    }
  });

  it('an abort while the create task runs destroys the CT', async () => {
    const w = await open({ taskDurationsMs: { default: 10, vzcreate: 300 } });
    const controller = new AbortController();
    const error = await caught(
      w.runtime.create(request(), w.image, {
        containerId: 'abort',
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'create' && p.upid) controller.abort(new Error('caller gave up'));
        },
      }),
    );
    expect(error).toMatchObject({ code: 'ERR_ABORTED' });
    expect(error.message).toMatch(/rollback: CT \d+ destroyed/);
    expect(w.sim.state.cts.size).toBe(0);
  });

  it.runIf(version === '8.4')('a system image (own /sbin/init, os-release) gets one template named with its ostype, shared by all commands', async () => {
    const w = await open();
    const dir = join(w.work, 'system-image');
    const tarball = await packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/os-release', content: 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n' },
      { name: 'sbin/', type: 'directory' },
      { name: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 },
    ]);
    writeImageLayout(dir, [{ tar: tarball }], { ref: 'sys' });
    const image = await (await openImageLayout(dir)).resolve('sys');
    const a = await w.runtime.create(request(), image, { containerId: 'sys-a' });
    const b = await w.makeRuntime().create(request({ config: { command: ['/other'] } }), image, { containerId: 'sys-b' });
    expect(a.templateVolid).toMatch(/^local:vztmpl\/lxcri-[0-9a-f]{16}-debian\.tar\.gz$/);
    expect(b.templateVolid).toBe(a.templateVolid);
    expect(uploads(w)).toBe(1);
    for (const ct of [a, b]) expect((await w.client.lxc.config(ct.node, ct.vmid))['ostype']).toBe('debian');
    const listing = execFileSync('tar', ['-tzf', w.sim.state.volumePath('pve1', a.templateVolid) as string], { encoding: 'utf8' });
    expect(listing.split('\n').filter((l) => l.includes('init'))).toEqual(['./sbin/init']);
  });

  it.runIf(version === '8.4')('an image with neither /sbin/init nor /bin/sh is refused in rootfs mode, naming OCI mode', async () => {
    const w = await open();
    const dir = join(w.work, 'static-image');
    writeImageLayout(dir, [{ tar: await packTar([{ name: 'app', content: 'ELF', mode: 0o755 }]) }], { ref: 'static', config: { config: { Entrypoint: ['/app'] } } });
    const image = await (await openImageLayout(dir)).resolve('static');
    const error = await caught(w.runtime.create(request({ config: { command: [], args: [] } }), image, { containerId: 'static' }));
    expect(error).toMatchObject({ code: 'ERR_FAILED_PRECONDITION', grpcStatus: 'FailedPrecondition' });
    expect(error.message).toMatch(/neither \/sbin\/init nor \/bin\/sh.*OCI mode/);
    expect(uploads(w)).toBe(0);
    expect(w.sim.state.cts.size).toBe(0);
  });

  it.runIf(version === '9.1')('OCI mode refuses a CRI user it cannot apply, before anything is uploaded', async () => {
    const w = await open();
    const base = request();
    const withUser = request({ config: { linux: { securityContext: { runAsUser: { value: 1000 } } } } });
    expect(base.config.linux.securityContext.runAsUser).toBeUndefined();
    const error = await caught(w.runtime.create(withUser, w.image, { containerId: 'ctr-user' }));
    expect(error).toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
    expect(error.message).toContain('rootfs mode');
    expect(uploads(w)).toBe(0);
  });
});
