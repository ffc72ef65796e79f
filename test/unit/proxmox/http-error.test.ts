import { describe, expect, it } from 'vitest';
import { toHttpError } from '../../../src/proxmox/transport/http-error.js';

const answer = (status: number, message: string) => ({
  status,
  statusText: message,
  headers: { 'content-type': 'application/json;charset=UTF-8' },
  body: JSON.stringify({ data: null, message }),
});

describe('toHttpError', () => {
  it('marks a lock timeout as not executed, as a declared field kept off details and JSON', () => {
    const error = toHttpError(answer(500, "can't lock file '/run/lock/lxc/pve-config-100.conf' - got timeout"), 'POST', '/nodes/pve1/lxc', []);
    expect(error.notExecuted).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.details).not.toHaveProperty('notExecuted');
    expect(JSON.stringify(error)).not.toContain('notExecuted');
  });

  it('leaves other failures not marked', () => {
    const error = toHttpError(answer(500, 'CT 100 already exists on node pve1'), 'POST', '/nodes/pve1/lxc', []);
    expect(error.notExecuted).toBe(false);
    expect(error.vmidConflict).toBe(true);
  });
});
