import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../../src/internal/process.js';

describe('isProcessAlive', () => {
  it('is true for this process and init (another user’s process: EPERM counts as alive)', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(1)).toBe(true);
  });

  it('is false for a process that has exited', () => {
    const exited = spawnSync(process.execPath, ['-e', '']).pid as number;
    expect(exited).toBeGreaterThan(0);
    expect(isProcessAlive(exited)).toBe(false);
  });

  it('is false for what is not a pid, which kill() would take for a process group or every process', () => {
    for (const pid of [0, -1, -process.pid, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(isProcessAlive(pid)).toBe(false);
  });
});
