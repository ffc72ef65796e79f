import { describe, expect, it } from 'vitest';
import { ProxmoxHttpError } from '../../../src/errors.js';
import { waitForTask, type TaskLogLine, type TaskStatus } from '../../../src/exports/proxmox.js';
import { type TaskReader, type WaitForTaskDeps } from '../../../src/proxmox/wait-for-task.js';

const UPID = 'UPID:pve2:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam:';

/** A fake clock whose sleep advances time instantly and records each delay. */
function fakeTime(start = 0): { deps: Pick<WaitForTaskDeps, 'clock' | 'sleep'>; sleeps: number[]; now: () => number } {
  let now = start;
  const sleeps: number[] = [];
  return {
    now: () => now,
    sleeps,
    deps: {
      clock: { now: () => now },
      sleep: async (ms, signal) => {
        if (signal?.aborted) throw new Error('aborted');
        sleeps.push(ms);
        now += ms;
      },
    },
  };
}

function reader(statuses: (TaskStatus | Error)[], log: string[] = []): TaskReader & { statusCalls: string[]; logCalls: { start: number; limit: number }[] } {
  const statusCalls: string[] = [];
  const logCalls: { start: number; limit: number }[] = [];
  let i = 0;
  return {
    statusCalls,
    logCalls,
    async status(upid) {
      statusCalls.push(upid);
      const next = statuses[Math.min(i++, statuses.length - 1)]!;
      if (next instanceof Error) throw next;
      return next;
    },
    async log(_upid, { start, limit }): Promise<TaskLogLine[]> {
      logCalls.push({ start, limit });
      return log.slice(start, start + limit).map((t, k) => ({ n: start + k + 1, t }));
    },
  };
}

const base = { pollMinMs: 100, pollMaxMs: 1000, timeoutMs: 60_000, logPageSize: 500 };

describe('waitForTask', () => {
  it('polls with growing delays until OK', async () => {
    const t = fakeTime();
    const r = reader([{ status: 'running' }, { status: 'running' }, { status: 'running' }, { status: 'stopped', exitstatus: 'OK' }]);
    const progress: string[] = [];
    const result = await waitForTask(r, UPID, { ...base, ...t.deps }, { onProgress: (p) => progress.push(`${p.polls}:${p.status}`) });
    expect(result).toMatchObject({ upid: UPID, exitStatus: 'OK', warnings: 0, warningLines: [] });
    expect(t.sleeps).toEqual([100, 150, 225]);
    expect(progress).toEqual(['1:running', '2:running', '3:running', '4:stopped']);
    expect(r.logCalls).toEqual([]);
  });

  it('treats WARNINGS: n as success and returns the WARN lines', async () => {
    const t = fakeTime();
    const r = reader([{ status: 'stopped', exitstatus: 'WARNINGS: 2' }], ['extracting', 'WARN: systemd 255 unsupported', 'more', 'WARN: no IPv6', 'TASK WARNINGS: 2']);
    const result = await waitForTask(r, UPID, { ...base, ...t.deps });
    expect(result).toMatchObject({ exitStatus: 'WARNINGS: 2', warnings: 2, warningLines: ['WARN: systemd 255 unsupported', 'WARN: no IPv6'] });
  });

  it('treats every other exit status as failure: a missing one, PVE\'s own error statuses, near-misses of WARNINGS', async () => {
    const cases: [TaskStatus, string][] = [
      [{ status: 'stopped' }, 'unexpected status'],
      [{ status: 'stopped', exitstatus: 'unexpected status' }, 'unexpected status'],
      [{ status: 'stopped', exitstatus: 'unable to get last line from task log - No such file' }, 'unable to get last line from task log - No such file'],
      [{ status: 'stopped', exitstatus: 'WARNINGS' }, 'WARNINGS'],
      [{ status: 'stopped', exitstatus: 'WARNINGS: x' }, 'WARNINGS: x'],
      [{ status: 'stopped', exitstatus: 'ok' }, 'ok'],
      [{ status: 'stopped', exitstatus: 'OK but not quite' }, 'OK but not quite'],
    ];
    for (const [status, exitStatus] of cases) {
      const r = reader([status], ['some line', `TASK ERROR: ${exitStatus}`]);
      await expect(waitForTask(r, UPID, { ...base, ...fakeTime().deps })).rejects.toMatchObject({
        code: 'ERR_PVE_TASK',
        exitStatus,
        logTail: ['some line', `TASK ERROR: ${exitStatus}`],
      });
    }
  });

  it('throws ProxmoxTaskError with the whole paged log (not cut at 50 lines)', async () => {
    const t = fakeTime();
    const log = Array.from({ length: 1234 }, (_, i) => `line ${i + 1}`);
    log.push('TASK ERROR: unable to create CT 101 - no space left on device');
    const r = reader([{ status: 'running' }, { status: 'stopped', exitstatus: 'unable to create CT 101 - no space left on device' }], log);
    let error: unknown;
    try {
      await waitForTask(r, UPID, { ...base, ...t.deps, maxLogLines: 2000 });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({
      code: 'ERR_PVE_TASK',
      upid: UPID,
      exitStatus: 'unable to create CT 101 - no space left on device',
      message: 'Proxmox task vzcreate failed: unable to create CT 101 - no space left on device',
    });
    const tail = (error as { logTail: string[] }).logTail;
    expect(tail).toHaveLength(1235);
    expect(tail[0]).toBe('line 1');
    expect(tail.at(-1)).toBe('TASK ERROR: unable to create CT 101 - no space left on device');
    expect(r.logCalls).toEqual([
      { start: 0, limit: 500 },
      { start: 500, limit: 500 },
      { start: 1000, limit: 500 },
    ]);
  });

  it('times out with ProxmoxTimeoutError at the deadline (clock based, capped backoff)', async () => {
    const t = fakeTime(1_000);
    const r = reader([{ status: 'running' }]);
    await expect(waitForTask(r, UPID, { ...base, ...t.deps }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'ERR_PVE_TIMEOUT', details: { upid: UPID, timeoutMs: 5_000 } });
    expect(t.now() - 1_000).toBe(5_000);
    expect(Math.max(...t.sleeps)).toBe(1000);
  });

  it('stops when the signal fires', async () => {
    const t = fakeTime();
    const controller = new AbortController();
    const r = reader([{ status: 'running' }]);
    let polls = 0;
    const pending = waitForTask(r, UPID, { ...base, ...t.deps }, {
      signal: controller.signal,
      onProgress: () => {
        if (++polls === 3) controller.abort();
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(r.statusCalls).toHaveLength(3);
  });

  it('tolerates "no such task" right after start, then fails on other errors', async () => {
    const t = fakeTime();
    const noSuch = new ProxmoxHttpError({ status: 400, statusText: 'Parameter verification failed.', method: 'GET', path: '/x', errors: { upid: 'no such task' }, retryable: false });
    const r = reader([noSuch, noSuch, { status: 'stopped', exitstatus: 'OK' }]);
    await expect(waitForTask(r, UPID, { ...base, ...t.deps })).resolves.toMatchObject({ exitStatus: 'OK' });
    const other = new ProxmoxHttpError({ status: 403, statusText: 'Permission check failed', method: 'GET', path: '/x', retryable: false });
    await expect(waitForTask(reader([other]), UPID, { ...base, ...t.deps })).rejects.toBe(other);
  });

  it('asks the node named in the UPID and refuses a malformed UPID', async () => {
    const t = fakeTime();
    await expect(waitForTask(reader([{ status: 'stopped', exitstatus: 'OK' }]), 'not-a-upid', { ...base, ...t.deps })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});
