/**
 * The container monitor with a pretend runtime whose `create` forks a "container" process that
 * waits for `start`, like runc's init: no root needed, but the real Perl monitor, real pipes and
 * real process re-parenting are exercised.
 */
import { chmod, mkdtemp, readFile, readlink, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciRuntimeDriver } from '../../../../src/index.js';
import { missing } from '../../../helpers/requirements.js';
import { CRUN_HYBRID_CGROUP_PREFIX } from '../../../../src/runtimes/crun/hybrid-cgroup.js';

let dir: string;
let runtime: string;
let bundle: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lxcri-monitor-'));
  bundle = join(dir, 'bundle');
  await mkdir(bundle);
  await writeFile(join(bundle, 'config.json'), '{"ociVersion":"1.0.2"}');
  runtime = join(dir, 'runtime');
  await writeFile(
    runtime,
    [
      '#!/bin/sh',
      'cmd=""; bundle=""; pidfile=""; id=""',
      'while [ $# -gt 0 ]; do',
      '  case "$1" in',
      '    create|start|delete|state) cmd="$1" ;;',
      '    --bundle) bundle="$2"; shift ;;',
      '    --pid-file) pidfile="$2"; shift ;;',
      '    *) id="$1" ;;',
      '  esac',
      '  shift',
      'done',
      `fifo="${dir}/start-$id"`,
      'case "$cmd" in',
      '  create)',
      '    echo "creating $id" >&2',
      '    mkfifo "$fifo"',
      '    ( read go < "$fifo"; printf "line one\\nline two"; head -c 20000 /dev/zero | tr "\\0" E >&2; exit 5 ) &',
      '    echo $! > "$pidfile" ;;',
      '  start) echo go > "$fifo"; rm -f "$fifo" ;;',
      '  delete) exit 0 ;;',
      '  state) echo "{\\"ociVersion\\":\\"1.0.2\\",\\"id\\":\\"$id\\",\\"status\\":\\"stopped\\",\\"pid\\":0,\\"bundle\\":\\"b\\"}" ;;',
      'esac',
      '',
    ].join('\n'),
  );
  await chmod(runtime, 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(missing({ tools: ['perl'] }))('container monitor', () => {
  it('adopts the init, records its exit code, and writes CRI log lines (F, P, and an unterminated last line)', async () => {
    const d = new OciRuntimeDriver({ runtime, stateDir: join(dir, 'state') });
    const logPath = join(dir, 'c.log');
    const { pid } = await d.create('c1', { bundle, logPath });
    expect(pid).toBeGreaterThan(1);
    // what the runtime printed during create is not container output
    expect(await readFile(logPath, 'utf8')).toBe('');
    await d.start('c1');
    const exit = await d.waitForExit('c1', { timeoutMs: 10_000 });
    expect(exit).toMatchObject({ pid, exitCode: 5, signal: null });
    expect(exit.finishedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect((await d.state('c1')).exit).toEqual(exit);

    const lines = (await readFile(logPath, 'utf8')).split('\n').filter(Boolean);
    const parsed = lines.map((l) => /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/.exec(l));
    expect(parsed.every(Boolean)).toBe(true);
    const entries = parsed.map((m) => [m?.[2], m?.[3], m?.[4]]);
    expect(entries.filter((e) => e[0] === 'stdout')).toEqual([
      ['stdout', 'F', 'line one'],
      ['stdout', 'F', 'line two'],
    ]);
    expect(entries.filter((e) => e[0] === 'stderr')).toEqual([
      ['stderr', 'P', 'E'.repeat(16384)],
      ['stderr', 'F', 'E'.repeat(20000 - 16384)],
    ]);
    await d.delete('c1');
  });

  it('without a log path the output is dropped and the exit is still recorded', async () => {
    const d = new OciRuntimeDriver({ runtime, stateDir: join(dir, 'state') });
    await d.create('c2', { bundle });
    await d.start('c2');
    expect(await d.waitForExit('c2', { timeoutMs: 10_000 })).toMatchObject({ exitCode: 5 });
    await d.delete('c2');
    await expect(readFile(join(dir, 'state', 'c2', 'exit.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('records a signal death as the signal (exit code null), decoding the wait status by hand', async () => {
    const d = new OciRuntimeDriver({ runtime, stateDir: join(dir, 'state') });
    const { pid } = await d.create('c3', { bundle });
    process.kill(pid, 'SIGKILL');
    const exit = await d.waitForExit('c3', { timeoutMs: 10_000 });
    expect(exit).toMatchObject({ pid, exitCode: null, signal: 'SIGKILL' });
    await d.delete('c3');
  });

  it('reports a failed create with the runtime output and exit status', async () => {
    const failing = join(dir, 'failing-runtime');
    await writeFile(failing, '#!/bin/sh\necho "no such bundle" >&2\nexit 3\n');
    await chmod(failing, 0o755);
    const d = new OciRuntimeDriver({ runtime: failing, stateDir: join(dir, 'state') });
    await expect(d.create('c4', { bundle })).rejects.toMatchObject({ code: 'ERR_OCI_RUNTIME', details: { exitCode: 3, stderr: 'no such bundle' } });
  });

  it.skipIf(missing({ root: true }))('applies the hybrid-cgroup prefix to create itself: the runtime runs in a private mount namespace without /sys/fs/cgroup/unified, its parent the monitor', async () => {
    const probe = join(dir, 'ns-runtime');
    const seen = join(dir, 'ns-seen');
    await writeFile(
      probe,
      [
        '#!/bin/sh',
        `readlink /proc/self/ns/mnt > "${seen}"`,
        `head -c 4 /proc/$PPID/cmdline >> "${seen}"; echo >> "${seen}"`,
        `grep -c ' /sys/fs/cgroup/unified ' /proc/self/mountinfo >> "${seen}"`,
        'while [ $# -gt 0 ]; do [ "$1" = --pid-file ] && { sleep 30 & echo $! > "$2"; }; shift; done',
        '',
      ].join('\n'),
    );
    await chmod(probe, 0o755);
    const d = new OciRuntimeDriver({ runtime: probe, commandPrefix: [...CRUN_HYBRID_CGROUP_PREFIX], stateDir: join(dir, 'state') });
    const { pid } = await d.create('c5', { bundle });
    const [mntNs, parent, unified] = (await readFile(seen, 'utf8')).trim().split('\n');
    expect(mntNs).toMatch(/^mnt:\[\d+\]$/);
    expect(mntNs).not.toBe(await readlink('/proc/self/ns/mnt'));
    expect(parent).toBe('perl');
    expect(unified).toBe('0');
    process.kill(pid, 'SIGKILL');
    await d.waitForExit('c5', { timeoutMs: 10_000 });
  });
});
