/**
 * The driver against small real executables that behave like an OCI runtime CLI (shell scripts),
 * so argument building, output capture, errors, timeouts and aborts are checked without root.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionsError, OciRuntimeDriver } from '../../../../src/index.js';
import { OciRuntimeError } from '../../../../src/exports/errors.js';
import { ociRuntimeDriverOptionsSchema, type SpawnFunction } from '../../../../src/runtimes/crun/options.js';
import { missing } from '../../../helpers/requirements.js';
import { until } from '../../../helpers/wait.js';

let dir: string;
let fake: string;
let argsLog: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lxcri-driver-'));
  argsLog = join(dir, 'args.log');
  fake = join(dir, 'fake-runtime');
  // A pretend runtime: records its argv, then acts on the subcommand.
  await writeFile(
    fake,
    [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >> '${argsLog}'`,
      'for last; do :; done',
      'case " $* " in',
      '  *" hang "*) exec sleep 30 ;;',
      '  *" hang-create "*" create "*) exec sleep 30 ;;',
      '  *" state "*) case "$last" in',
      '      ok) echo \'{"ociVersion":"1.0.2","id":"ok","pid":0,"status":"stopped","bundle":"/b","created":"2026-01-01T00:00:00Z"}\' ;;',
      '      garbage) echo "not json" ;;',
      '      weird) echo \'{"id":"weird"}\' ;;',
      '      *) echo "container $last does not exist" >&2; exit 1 ;;',
      '    esac ;;',
      '  *" start "*) echo "warning: something" >&2; echo "cannot start container: it exploded" >&2; exit 3 ;;',
      '  *" kill "*) exit 0 ;;',
      '  *" delete "*) case "$last" in ghost) echo "container ghost does not exist" >&2; exit 1 ;; esac; exit 0 ;;',
      '  *) echo "unknown" >&2; exit 2 ;;',
      'esac',
      '',
    ].join('\n'),
  );
  await chmod(fake, 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lastArgs(): Promise<string> {
  const lines = (await readFile(argsLog, 'utf8')).trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

describe('options', () => {
  it('defaults', () => {
    const d = new OciRuntimeDriver();
    expect(d.options).toMatchObject({ runtime: 'crun', commandPrefix: [], globalArgs: [], stateDir: '/run/lxcri/oci', perl: 'perl', timeoutMs: 60000 });
    expect(ociRuntimeDriverOptionsSchema.parse({}).runtime).toBe('crun');
  });
  it('unknown keys and bad values are rejected naming the field', () => {
    expect(() => new OciRuntimeDriver({ runtme: 'runc' } as never)).toThrow(InvalidOptionsError);
    expect(() => new OciRuntimeDriver({ timeoutMs: -1 })).toThrow(/timeoutMs/);
    expect(() => new OciRuntimeDriver({ logger: {} as never })).toThrow(/logger/);
  });
  it('container ids are validated before anything runs', async () => {
    const d = new OciRuntimeDriver({ runtime: fake });
    await expect(d.start('../etc')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', grpcStatus: 'InvalidArgument' });
    await expect(d.kill('ok', { killSignal: 'SIGNOPE' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('running the runtime', () => {
  it('builds prefix + runtime + global args + subcommand, and parses state', async () => {
    const d = new OciRuntimeDriver({ runtime: fake, globalArgs: ['--root', '/x', '--log-format=json'], stateDir: join(dir, 'state') });
    const state = await d.state('ok');
    expect(state).toEqual({ ociVersion: '1.0.2', id: 'ok', pid: 0, status: 'stopped', bundle: '/b', created: '2026-01-01T00:00:00Z' });
    expect(await lastArgs()).toBe('--root /x --log-format=json state ok');
    const wrapped = new OciRuntimeDriver({ runtime: fake, commandPrefix: ['sh', '-c', 'exec "$0" --wrapped "$@"'] });
    await wrapped.state('ok');
    expect(await lastArgs()).toBe('--wrapped state ok');
  });

  it('kill sends signal numbers, with --all', async () => {
    const d = new OciRuntimeDriver({ runtime: fake });
    await d.kill('ok', { killSignal: 'KILL', all: true });
    expect(await lastArgs()).toBe('kill --all ok 9');
    await d.kill('ok');
    expect(await lastArgs()).toBe('kill ok 15');
    await d.kill('ok', { killSignal: 2 });
    expect(await lastArgs()).toBe('kill ok 2');
  });

  it('a failing runtime throws OciRuntimeError with its stderr, exit code and container id', async () => {
    const d = new OciRuntimeDriver({ runtime: fake });
    const error = await d.start('c9').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OciRuntimeError);
    expect(error).toMatchObject({
      message: `${fake} start failed (exit 3): cannot start container: it exploded`,
      details: { command: 'start', exitCode: 3, containerId: 'c9', stderr: 'warning: something\ncannot start container: it exploded' },
    });
  });

  it('invalid or unexpected state output is an OciRuntimeError', async () => {
    const d = new OciRuntimeDriver({ runtime: fake });
    await expect(d.state('garbage')).rejects.toThrow(/invalid JSON/);
    await expect(d.state('weird')).rejects.toThrow(/unexpected state/);
    await expect(d.state('missing')).rejects.toThrow(/does not exist/);
  });

  it('a missing runtime binary is a clear error', async () => {
    const d = new OciRuntimeDriver({ runtime: join(dir, 'no-such-runtime') });
    await expect(d.state('x')).rejects.toThrow(/cannot run .*no-such-runtime: ENOENT/);
  });

  it('times out and aborts (the process is killed)', async () => {
    const d = new OciRuntimeDriver({ runtime: fake, timeoutMs: 200, globalArgs: ['hang'] });
    const started = Date.now();
    await expect(d.state('x')).rejects.toThrow(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
    const controller = new AbortController();
    const marker = `abort-${process.pid}-${Date.now()}`;
    const slow = new OciRuntimeDriver({ runtime: fake, globalArgs: ['hang', marker] });
    const pending = slow.state('x', { signal: controller.signal });
    // abort once the runtime really runs (it logs its argv first)
    await until(async () => (await readFile(argsLog, 'utf8').catch(() => '')).includes(marker), 'the hanging runtime to start');
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await expect(slow.state('x', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('delete of a container the runtime does not know is NotFound and drops stale monitor state', async () => {
    const d = new OciRuntimeDriver({ runtime: fake, stateDir: join(dir, 'state') });
    await mkdir(join(dir, 'state', 'ghost'), { recursive: true });
    await expect(d.delete('ghost')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', grpcStatus: 'NotFound' });
    expect(existsSync(join(dir, 'state', 'ghost'))).toBe(false);
  });

  it('uses the injected spawner', async () => {
    const calls: string[] = [];
    const spy = ((file: string, args: readonly string[], opts: object) => {
      calls.push([file, ...args].join(' '));
      return spawn(file, args, opts);
    }) as unknown as SpawnFunction;
    const d = new OciRuntimeDriver({ runtime: fake, spawn: spy });
    await d.delete('ok', { force: true });
    expect(calls).toEqual([`${fake} delete --force ok`]);
  });
});

describe('create', () => {
  it('a missing bundle or an unwritable log is refused before anything starts', async () => {
    const d = new OciRuntimeDriver({ runtime: fake, stateDir: join(dir, 'state') });
    await expect(d.create('c1', { bundle: join(dir, 'nope') })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    const bundle = join(dir, 'bundle');
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), '{}');
    await expect(d.create('c1', { bundle, logPath: join(dir, 'no/such/dir/x.log') })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { field: 'logPath' } });
    const tty = join(dir, 'tty-bundle');
    await mkdir(tty, { recursive: true });
    await writeFile(join(tty, 'config.json'), JSON.stringify({ process: { terminal: true } }));
    await expect(d.create('c1', { bundle: tty })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', grpcStatus: 'Unimplemented', details: { field: 'process.terminal' } });
    await writeFile(join(tty, 'config.json'), '{');
    await expect(d.create('c1', { bundle: tty })).rejects.toMatchObject({ code: 'ERR_OCI_RUNTIME' });
  });

  describe.skipIf(missing({ tools: ['perl'] }))('through the Perl monitor', () => {
    it('a failing runtime create surfaces its stderr and leaves no monitor state', async () => {
      const bundle = join(dir, 'bundle');
      const d = new OciRuntimeDriver({ runtime: fake, stateDir: join(dir, 'state') });
      const error = await d.create('c2', { bundle, logPath: join(dir, 'c2.log') }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OciRuntimeError);
      expect(error).toMatchObject({ details: { command: 'create', exitCode: 2, stderr: 'unknown', containerId: 'c2' } });
      expect(await readFile(join(dir, 'c2.log'), 'utf8')).toBe('');
      await expect(readFile(join(dir, 'state', 'c2', 'monitor.log'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('an existing monitor state directory is AlreadyExists', async () => {
      const d = new OciRuntimeDriver({ runtime: fake, stateDir: join(dir, 'state') });
      await mkdir(join(dir, 'state', 'taken'), { recursive: true });
      await expect(d.create('taken', { bundle: join(dir, 'bundle') })).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS' });
    });

    it('aborting a create kills the monitor and the runtime and removes the monitor state', async () => {
      const marker = `marker-${process.pid}-${Date.now()}`;
      // no timeout to race with: the abort comes once the runtime runs under its monitor (only
      // its create hangs; the delete that cleans up after the abort answers at once)
      const d = new OciRuntimeDriver({ runtime: fake, stateDir: join(dir, 'state'), globalArgs: ['hang-create', marker], timeoutMs: 60_000 });
      const controller = new AbortController();
      const pending = d.create('c4', { bundle: join(dir, 'bundle'), signal: controller.signal });
      const alive = async (): Promise<string[]> => {
        const found: string[] = [];
        for (const pid of await readdir('/proc')) {
          if (!/^\d+$/.test(pid)) continue;
          const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (cmd.includes(marker) && !cmd.includes('vitest')) found.push(pid);
        }
        return found;
      };
      await until(async () => (await alive()).length > 0, 'the hanging runtime to start');
      controller.abort(new Error('stop'));
      await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      expect(existsSync(join(dir, 'state', 'c4'))).toBe(false);
      await until(async () => (await alive()).length === 0, 'the monitor and the runtime to be gone');
    }, 60_000);

    it('a missing interpreter is a clear error', async () => {
      const d = new OciRuntimeDriver({ runtime: fake, stateDir: join(dir, 'state'), perl: join(dir, 'no-perl') });
      await expect(d.create('c3', { bundle: join(dir, 'bundle') })).rejects.toThrow(/no-perl not found/);
    });
  });
});
