import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ProxmoxHttpError, ProxmoxTaskError, silentLogger } from '../../../src/exports/errors.js';
import { VmidAllocator, isVmidConflict } from '../../../src/proxmox/vmid.js';

const conflict = (vmid: number): ProxmoxHttpError =>
  new ProxmoxHttpError({ status: 500, statusText: `CT ${vmid} already exists on node 'pve1'`, method: 'POST', path: '/nodes/pve1/lxc', retryable: false, vmidConflict: true });

/**
 * A fake cluster: a set of used ids; nextid returns the lowest free id >= 100; create claims it.
 * Each call gives the event loop a turn (two for create), so concurrent callers interleave.
 */
function fakeCluster() {
  const used = new Set<number>();
  let concurrent = 0;
  let maxConcurrent = 0;
  return {
    used,
    get maxConcurrent() {
      return maxConcurrent;
    },
    nextid: async (vmid: number | undefined): Promise<number> => {
      await nextTurn();
      if (vmid !== undefined) {
        if (used.has(vmid)) throw new ProxmoxHttpError({ status: 400, statusText: 'Parameter verification failed.', method: 'GET', path: '/cluster/nextid', errors: { vmid: `VM ${vmid} already exists` }, retryable: false });
        return vmid;
      }
      let id = 100;
      while (used.has(id)) id++;
      return id;
    },
    create: async (vmid: number): Promise<string> => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await nextTurn();
      await nextTurn();
      concurrent--;
      if (used.has(vmid)) throw conflict(vmid);
      used.add(vmid);
      return `UPID:pve1:00000001:00000002:00000003:vzcreate:${vmid}:root@pam:`;
    },
  };
}

const noSleep = async (): Promise<void> => undefined;

describe('VmidAllocator', () => {
  it('nextid mode: 20 concurrent allocations get 20 distinct ids, creates never overlap', async () => {
    const cluster = fakeCluster();
    const alloc = new VmidAllocator({ options: { mode: 'nextid', min: 100, max: 999, maxAttempts: 5 }, nextid: cluster.nextid, sleep: noSleep, logger: silentLogger });
    const results = await Promise.all(Array.from({ length: 20 }, () => alloc.allocate((id) => cluster.create(id))));
    expect(new Set(results.map((r) => r.vmid)).size).toBe(20);
    expect(results.every((r) => r.attempts === 1)).toBe(true);
    expect(cluster.maxConcurrent).toBe(1);
  });

  it('retries with a fresh id when another client took it, and gives up after maxAttempts', async () => {
    const cluster = fakeCluster();
    let stolen = 0;
    const alloc = new VmidAllocator({ options: { mode: 'nextid', min: 100, max: 999, maxAttempts: 3 }, nextid: cluster.nextid, sleep: noSleep, logger: silentLogger });
    const result = await alloc.allocate(async (id) => {
      if (stolen < 2) {
        stolen++;
        cluster.used.add(id); // a foreign controller created it in between
        throw conflict(id);
      }
      return cluster.create(id);
    });
    expect(result).toMatchObject({ vmid: 102, attempts: 3 });
    await expect(alloc.allocate(async (id) => Promise.reject(conflict(id)))).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS', message: 'no free VMID after 3 attempts' });
  });

  it('nextid mode with the next id of PVE below the range: later allocations ask for the id after the last one (one request each)', async () => {
    const cluster = fakeCluster();
    const asked: (number | undefined)[] = [];
    const nextid = (vmid: number | undefined): Promise<number> => {
      asked.push(vmid);
      return cluster.nextid(vmid);
    };
    const alloc = new VmidAllocator({ options: { mode: 'nextid', min: 10_000, max: 10_010, maxAttempts: 5 }, nextid, usedIds: async () => new Set(cluster.used), sleep: noSleep, logger: silentLogger });
    expect((await alloc.allocate((id) => cluster.create(id))).vmid).toBe(10_000);
    expect(asked).toEqual([undefined, 10_000]);
    asked.length = 0;
    expect((await alloc.allocate((id) => cluster.create(id))).vmid).toBe(10_001);
    expect(asked).toEqual([10_001]);
    // someone else took the hinted id: the full search finds the next free one
    cluster.used.add(10_002);
    asked.length = 0;
    expect((await alloc.allocate((id) => cluster.create(id))).vmid).toBe(10_003);
    expect(asked[0]).toBe(10_002);
    // and the range's end is respected
    for (let id = 10_004; id <= 10_010; id++) cluster.used.add(id);
    await expect(alloc.allocate((id) => cluster.create(id))).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
  });

  it('passes other errors through at once', async () => {
    const alloc = new VmidAllocator({ options: { mode: 'nextid', min: 100, max: 999, maxAttempts: 5 }, nextid: async () => 100, sleep: noSleep, logger: silentLogger });
    const boom = new ProxmoxHttpError({ status: 403, statusText: 'Permission check failed', method: 'POST', path: '/x', retryable: false });
    let calls = 0;
    await expect(alloc.allocate(async () => { calls++; throw boom; })).rejects.toBe(boom);
    expect(calls).toBe(1);
  });

  it('random mode draws ids in range, checks them with nextid?vmid= and runs creates in parallel', async () => {
    const cluster = fakeCluster();
    for (let id = 5000; id < 5010; id += 2) cluster.used.add(id);
    let seed = 7;
    const random = (): number => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const alloc = new VmidAllocator({ options: { mode: 'random', min: 5000, max: 5019, maxAttempts: 50 }, nextid: cluster.nextid, sleep: noSleep, logger: silentLogger, random });
    const results = await Promise.all(Array.from({ length: 10 }, () => alloc.allocate((id) => cluster.create(id))));
    const ids = results.map((r) => r.vmid);
    expect(new Set(ids).size).toBe(10);
    expect(ids.every((id) => id >= 5000 && id <= 5019 && !(id < 5010 && id % 2 === 0))).toBe(true);
    expect(cluster.maxConcurrent).toBeGreaterThan(1);
  });

  it('classifies conflicts from HTTP answers, nextid refusals and create tasks', () => {
    expect(isVmidConflict(conflict(101))).toBe(true);
    expect(isVmidConflict(new ProxmoxHttpError({ status: 500, statusText: "close (rename) atomic file '/etc/pve/nodes/b/lxc/101.conf' failed: File exists", method: 'POST', path: '/x', retryable: false, vmidConflict: true }))).toBe(true);
    expect(isVmidConflict(new ProxmoxTaskError({ upid: 'UPID:x', exitStatus: "unable to create CT 101 - CT 101 already exists on node 'b'" }))).toBe(true);
    expect(isVmidConflict(new ProxmoxTaskError({ upid: 'UPID:x', exitStatus: 'unable to create CT 101 - no space left' }))).toBe(false);
    expect(isVmidConflict(new Error('CT 1 already exists'))).toBe(false);
  });
});

describe('VMID allocation under cancellation', () => {
  it('a caller waiting for the per-client mutex stops at its own signal, without waiting for the holder', async () => {
    let releaseHolder!: () => void;
    const holderCreate = new Promise<string>((r) => (releaseHolder = () => r('UPID:pve1:00000001:00000002:00000003:vzcreate:100:root@pam:')));
    let holding!: () => void;
    const holderHolds = new Promise<void>((r) => (holding = r));
    const allocator = new VmidAllocator({
      options: { mode: 'nextid', min: 100, max: 200, maxAttempts: 3 },
      nextid: async () => 100,
      sleep: noSleep,
      logger: silentLogger,
    });
    const holder = allocator.allocate(() => {
      holding();
      return holderCreate;
    });
    const controller = new AbortController();
    let created = false;
    const waiter = allocator.allocate(async () => {
      created = true;
      return 'never';
    }, { signal: controller.signal });
    await holderHolds; // the holder is inside create: the waiter is queued on the mutex
    controller.abort(new Error('caller gave up'));
    const started = Date.now();
    await expect(waiter).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(Date.now() - started).toBeLessThan(1000);
    releaseHolder();
    await expect(holder).resolves.toMatchObject({ vmid: 100 });
    expect(created).toBe(false);
    // the mutex is still usable afterwards
    await expect(allocator.allocate(async (id) => `ok-${id}`)).resolves.toMatchObject({ result: 'ok-100' });
  });
});
