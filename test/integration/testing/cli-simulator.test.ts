import { spawn } from 'node:child_process';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import type { CliIo } from '../../../src/cli/types.js';

interface Printed {
  url: string;
  apiUrl: string;
  fingerprint256: string;
  pveVersion: string;
  nodes: string[];
  username: string;
  password: string;
  authorization: string;
}

function pinnedAgent(fingerprint: string): Agent {
  return new Agent({
    connect: {
      rejectUnauthorized: false,
      checkServerIdentity: (_host, cert) => (cert.fingerprint256 === fingerprint ? undefined : new Error('fingerprint mismatch')),
    },
  });
}

describe('lxcri simulator', () => {
  it('runs in-process until its signal aborts, printing URL, fingerprint and a working token', async () => {
    let out = '';
    let err = '';
    let printedAll!: () => void;
    const printedJson = new Promise<void>((r) => (printedAll = r));
    const controller = new AbortController();
    const io: CliIo = {
      stdout: {
        write: (s: string) => {
          out += s;
          if (out.includes('}\n')) printedAll();
          return true;
        },
      },
      stderr: { write: (s: string) => (err += s) },
      env: {},
      cwd: process.cwd(),
      signal: controller.signal,
    };
    const running = main(['simulator', '--pve-version', '8.4', '--nodes', 'pve1,pve2', '--task-duration-ms', '5'], io);
    await printedJson; // the JSON line is printed once the server listens
    const printed = JSON.parse(out) as Printed;
    expect(printed).toMatchObject({ pveVersion: '8.4', nodes: ['pve1', 'pve2'], username: 'root@pam' });
    expect(printed.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const agent = pinnedAgent(printed.fingerprint256);
    const res = await request(`${printed.apiUrl}/nodes`, { dispatcher: agent, headers: { authorization: printed.authorization } });
    expect(((await res.body.json()) as { data: { node: string }[] }).data.map((n) => n.node)).toEqual(['pve1', 'pve2']);
    const login = await request(`${printed.apiUrl}/access/ticket`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: printed.username, password: printed.password }).toString(),
    });
    expect(login.statusCode).toBe(200);
    await login.body.dump();
    controller.abort();
    expect(await running).toBe(0);
    expect(err).toContain('simulator listening on https://127.0.0.1:');
    await expect(request(`${printed.apiUrl}/version`, { dispatcher: agent })).rejects.toBeInstanceOf(Error);
    await agent.close();
  });

  it('refuses bad arguments with exit code 2', async () => {
    let out = '';
    const io: CliIo = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, env: {}, cwd: process.cwd() };
    expect(await main(['simulator', '--pve-version', '7.0'], io)).toBe(2);
    expect(out).toContain('--pve-version must be 8.4 or 9.1');
    expect(await main(['simulator', '--port', 'abc'], io)).toBe(2);
  });

  it('stops on SIGINT when run as the lxcri binary', async () => {
    const child = spawn(process.execPath, ['bin/lxcri.js', 'simulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // the JSON line arrives once the server listens; an early exit fails the wait
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('}\n')) resolve();
      });
      void exited.then((code) => reject(new Error(`lxcri simulator exited with ${String(code)} before printing: ${out}`)));
    });
    const printed = JSON.parse(out) as Printed;
    const agent = pinnedAgent(printed.fingerprint256);
    const res = await request(`${printed.apiUrl}/version`, { dispatcher: agent, headers: { authorization: printed.authorization } });
    expect(((await res.body.json()) as { data: { release: string } }).data.release).toBe('9.1');
    await agent.close();
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 60_000);
});

describe('startPveSimulator start-up failure', () => {
  it('rejects when the port is taken and removes the state directory it made', async () => {
    const { startPveSimulator } = await import('../../../src/testing/index.js');
    const { mkdtemp, readdir, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const first = await startPveSimulator();
    const scratch = await mkdtemp(join(tmpdir(), 'lxcri-tmpdir-'));
    const savedTmp = process.env['TMPDIR'];
    try {
      process.env['TMPDIR'] = scratch; // os.tmpdir() follows TMPDIR: the failed start makes its state dir here
      await expect(startPveSimulator({ port: Number(new URL(first.url).port) })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      if (savedTmp === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = savedTmp;
      await rm(scratch, { recursive: true, force: true });
      await first.close();
    }
  });
});
