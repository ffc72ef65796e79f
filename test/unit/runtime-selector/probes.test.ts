import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeCreateContainerRequest } from '../../../src/cri/normalize.js';
import { AbortedError, InvalidOptionsError, selectRuntime } from '../../../src/index.js';
import { createRuntimeProbes, type ProxmoxVersionSource } from '../../../src/exports/runtime-selector.js';
import { type RuntimeProbeSpawn } from '../../../src/runtime-selector/probes.js';
import { missing } from '../../helpers/requirements.js';
import { processExists, until } from '../../helpers/wait.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lxcri-probes-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

describe.skipIf(missing({ tools: ['crun'] }))('OCI runtime probe with the real crun', () => {
  it('runs crun --version and reads the version', async () => {
    const result = await createRuntimeProbes({ ociRuntimePath: 'crun' }).probeOciRuntime();
    expect(result.available).toBe(true);
    expect(result.name).toBe('crun');
    expect(result.version).toMatch(/^\d+\.\d+(\.\d+)?$/);
    expect(result.detail).toMatch(/^crun --version answered "crun version \d/);
  });
});

describe.skipIf(missing({ tools: ['runc'] }))('OCI runtime probe with the real runc', () => {
  it('runs runc --version and reads the version', async () => {
    const result = await createRuntimeProbes({ ociRuntimePath: 'runc' }).probeOciRuntime();
    expect(result).toMatchObject({ available: true, path: 'runc', name: 'runc' });
    expect(result.version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('OCI runtime probe failures', () => {
  it('reports a missing binary as unavailable', async () => {
    const result = await createRuntimeProbes({ ociRuntimePath: join(dir, 'no-such-crun') }).probeOciRuntime();
    expect(result).toEqual({ available: false, path: join(dir, 'no-such-crun'), detail: `cannot run ${join(dir, 'no-such-crun')} --version: not found` });
  });

  it('reports a file that is not executable', async () => {
    const path = join(dir, 'not-executable');
    await writeFile(path, 'data');
    const result = await createRuntimeProbes({ ociRuntimePath: path }).probeOciRuntime();
    expect(result).toMatchObject({ available: false, detail: `cannot run ${path} --version: permission denied` });
  });

  it('reports a non-zero exit with the first line of stderr', async () => {
    const path = await script('failing-runtime', 'echo "runtime is broken: libseccomp missing" >&2\nexit 3');
    const result = await createRuntimeProbes({ ociRuntimePath: path }).probeOciRuntime();
    expect(result).toEqual({ available: false, path, detail: `${path} --version exited with code 3: runtime is broken: libseccomp missing` });
  });

  it('accepts an answer without a version line, and passes --version', async () => {
    const path = await script('odd-runtime', 'echo "args: $*"');
    const result = await createRuntimeProbes({ ociRuntimePath: path }).probeOciRuntime();
    expect(result).toEqual({ available: true, path, detail: `${path} --version answered "args: --version"` });
  });

  it('gives up at the deadline and kills the process', async () => {
    const pidFile = join(dir, 'slow.pid');
    const path = await script('slow-runtime', `echo $$ > ${pidFile}\nexec sleep 30`);
    const started = Date.now();
    const result = await createRuntimeProbes({ ociRuntimePath: path, timeoutMs: 300 }).probeOciRuntime();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result).toEqual({ available: false, path, detail: `${path} --version did not answer within 300 ms` });
    const { readFile } = await import('node:fs/promises');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    // killed at the deadline: it goes away (how soon depends on the machine's load)
    await until(() => !processExists(pid), `the timed-out runtime (pid ${pid}) to be gone`);
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it('rejects with AbortedError when the caller aborts', async () => {
    const pidFile = join(dir, 'slow-2.pid');
    const path = await script('slow-runtime-2', `echo $$ > ${pidFile}\nexec sleep 30`);
    const controller = new AbortController();
    const pending = createRuntimeProbes({ ociRuntimePath: path }).probeOciRuntime({ signal: controller.signal });
    // abort while the runtime runs
    await until(() => existsSync(pidFile), 'the slow runtime to start');
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    await expect(createRuntimeProbes().run({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
  });

  it('uses the injected spawner', async () => {
    const calls: string[][] = [];
    const recording = ((command: string, args: readonly string[], options: object) => {
      calls.push([command, ...args]);
      return spawn(command, [...args], options);
    }) as RuntimeProbeSpawn;
    const path = await script('fake-crun', 'echo "crun version 9.9.9"');
    const result = await createRuntimeProbes({ ociRuntimePath: path, spawn: recording }).probeOciRuntime();
    expect(calls).toEqual([[path, '--version']]);
    expect(result).toMatchObject({ available: true, name: 'crun', version: '9.9.9' });
  });
});

describe('Proxmox probe over a real HTTP server', () => {
  let server: Server;
  let base: string;
  const seen: string[] = [];
  let closedEarly = 0;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/api2/json/version') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: { version: '9.1.3', release: '9.1', repoid: 'abc123' } }));
      } else if (req.url === '/denied/api2/json/version') {
        res.writeHead(401, 'authentication failure');
        res.end();
      } else {
        // never answers; count the client giving up
        res.on('close', () => closedEarly++);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const source = (prefix: string, authId?: string): ProxmoxVersionSource => ({
    ...(authId === undefined ? {} : { authId }),
    async version({ signal }) {
      const response = await fetch(`${base}${prefix}/api2/json/version`, { signal, headers: { authorization: 'PVEAPIToken=root@pam!ci=1f2e3d4c-0000-1111-2222-333344445555' } });
      if (!response.ok) throw new Error(`GET /version failed: ${response.status} ${response.statusText} (sent PVEAPIToken=root@pam!ci=1f2e3d4c-0000-1111-2222-333344445555)`);
      return ((await response.json()) as { data: unknown }).data;
    },
  });

  it('is available when /version answers, and knows whether the identity is root@pam', async () => {
    const result = await createRuntimeProbes({ proxmox: source('', 'root@pam') }).probeProxmox();
    expect(result).toEqual({ available: true, rootPam: true, authId: 'root@pam', version: '9.1.3', detail: 'GET /version answered: Proxmox VE 9.1.3 (release 9.1)' });
    expect(seen).toContain('GET /api2/json/version');
    const token = await createRuntimeProbes({ proxmox: source('', 'root@pam!ci') }).probeProxmox();
    expect(token.rootPam).toBe(false);
  });

  it('is unavailable when the request fails, without leaking the token', async () => {
    const result = await createRuntimeProbes({ proxmox: source('/denied', 'lxcri@pve!ci') }).probeProxmox();
    expect(result.available).toBe(false);
    expect(result.detail).toMatch(/^GET \/version failed: GET \/version failed: 401 authentication failure/);
    expect(result.detail).not.toContain('1f2e3d4c-0000');
  });

  it('gives up at the deadline and aborts the request', async () => {
    const before = closedEarly;
    const result = await createRuntimeProbes({ proxmox: source('/hang'), timeoutMs: 300 }).probeProxmox();
    expect(result).toEqual({ available: false, rootPam: false, detail: 'GET /version did not answer within 300 ms' });
    await until(() => closedEarly === before + 1, 'the server to see the request closed');
    expect(closedEarly).toBe(before + 1);
  });

  it('also gives up on a source that ignores the signal', async () => {
    const stubborn: ProxmoxVersionSource = { version: () => new Promise(() => undefined) };
    const result = await createRuntimeProbes({ proxmox: stubborn, timeoutMs: 100 }).probeProxmox();
    expect(result.detail).toBe('GET /version did not answer within 100 ms');
  });

  it('reports "no Proxmox client configured" without a source', async () => {
    expect(await createRuntimeProbes().probeProxmox()).toEqual({ available: false, rootPam: false, detail: 'no Proxmox client configured' });
  });

  it('run() probes both, and selectRuntime consumes the result', async () => {
    const probes = await createRuntimeProbes({ ociRuntimePath: join(dir, 'missing-crun'), proxmox: source('', 'root@pam') }).run();
    expect(probes.crun?.available).toBe(false);
    expect(probes['proxmox-lxc']?.available).toBe(true);
    const request = normalizeCreateContainerRequest({
      pod_sandbox_id: 'p',
      config: { metadata: { name: 'app' }, image: { image: 'busybox' } },
      sandbox_config: { metadata: { name: 'pod', namespace: 'default', uid: 'u' } },
    });
    expect(() => selectRuntime(request, {}, probes)).toThrow(/^crun is unavailable \(cannot run .*missing-crun --version: not found\); no fallback/);
    const selection = selectRuntime(request, { fallback: { onUnavailable: true } }, probes);
    expect(selection.runtime).toBe('proxmox-lxc');
    expect(selection.trace.at(-1)).toMatchObject({ step: 'fallback', outcome: 'changed', detail: expect.stringContaining('Proxmox VE 9.1.3') as unknown });
  });
});

describe('createRuntimeProbes options', () => {
  it('rejects unknown keys and bad values, naming them', () => {
    expect(() => createRuntimeProbes({ ociRuntime: 'crun' } as never)).toThrow(InvalidOptionsError);
    expect(() => createRuntimeProbes({ ociRuntime: 'crun' } as never)).toThrow('invalid runtime probe options: (root): Unrecognized key: "ociRuntime"');
    expect(() => createRuntimeProbes({ timeoutMs: -1 })).toThrow(/timeoutMs/);
    expect(() => createRuntimeProbes({ proxmox: {} as never })).toThrow('proxmox: expected an object with a version({ signal }) method');
  });

  it('fills the defaults', () => {
    expect(createRuntimeProbes().options).toEqual({ ociRuntimePath: 'crun', timeoutMs: 5_000 });
  });
});
