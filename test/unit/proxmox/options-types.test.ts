/**
 * Type-level checks of the public option types under exactOptionalPropertyTypes (verified by
 * `tsc` over the test tree), plus the runtime defaults they resolve to.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { resolveProxmoxClientOptions, type ResolvedProxmoxClientOptions } from '../../../src/proxmox/options.js';
import { type LxcCreateParams, type OtpProvider, type Transport, type TransportFactory } from '../../../src/exports/proxmox.js';
import { type ProxmoxClientOptions } from '../../../src/index.js';

describe('option types', () => {
  it('accept the documented shapes and resolve defaults', () => {
    const token: ProxmoxClientOptions = { baseUrl: 'https://pve1:8006', auth: { type: 'token', tokenId: 'a@pve!b', secret: 's' } };
    const tfa: ProxmoxClientOptions = {
      baseUrl: 'https://pve1:8006/api2/json',
      auth: { type: 'password', username: 'a@pve', password: 'p', otp: async ({ methods }) => (methods.includes('totp') ? '123456' : '') },
      tls: { fingerprint256: 'ab:'.repeat(31) + 'ab' },
    };
    expectTypeOf<OtpProvider>().parameter(0).toHaveProperty('signal').toEqualTypeOf<AbortSignal>();
    expectTypeOf<ResolvedProxmoxClientOptions['timeoutMs']>().toEqualTypeOf<number>();
    expectTypeOf<ResolvedProxmoxClientOptions['transport']>().toEqualTypeOf<Transport | TransportFactory | undefined>();
    expectTypeOf<LxcCreateParams['net']>().not.toBeNever();
    const resolved = resolveProxmoxClientOptions(token);
    expect(resolved).toMatchObject({
      baseUrl: 'https://pve1:8006',
      tls: { insecure: false },
      timeoutMs: 30_000,
      retry: { retries: 3, minDelayMs: 200, maxDelayMs: 5000 },
      tasks: { pollMinMs: 250, pollMaxMs: 5000, timeoutMs: 600_000, logPageSize: 500 },
      vmid: { mode: 'nextid', min: 10_000, max: 99_999, maxAttempts: 10 },
    });
    const r2 = resolveProxmoxClientOptions(tfa);
    expect(r2.baseUrl).toBe('https://pve1:8006');
    expect(r2.tls.fingerprint256).toBe('AB:'.repeat(31) + 'AB');
    expect(r2.auth.type === 'password' && r2.auth.renewAfterMs).toBe(3_600_000);
  });
});
