import { describe, expect, it } from 'vitest';
import { runInNewContext } from 'node:vm';
import { CriValidationError, LxcriError, hasErrorCode, isLxcriError, type Logger } from '../../src/index.js';
import { OciRuntimeError, ProxmoxAuthError, ProxmoxHttpError, ProxmoxNetworkError, ProxmoxTaskError, redact, redactString } from '../../src/exports/errors.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { REDACTED } from '../../src/redact.js';
import { createRedactingLogger } from '../../src/logger.js';

const TOKEN_SECRET = '8f2b1c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d';
const PASSWORD = 'hunter2-correct-horse';
const TICKET =
  'PVE:root@pam:6745A1B2::dGhpcyBpcyBhIHNpZ25hdHVyZSB0aGF0IG11c3Qgbm90IGxlYWsgYW55d2hlcmUgYXQgYWxs+/=';
const CSRF = '6745A1B2:Yh2k3JmQ9vZx1qP0s8Lr5tNw7Bc4Df6Ge';

function allRenderings(error: Error): string {
  return [error.message, error.stack ?? '', String(error), JSON.stringify(error)].join('\n');
}

describe('LxcriError', () => {
  it('carries a stable code, a gRPC status and a cause', () => {
    const root = new Error('socket hang up');
    const net = new ProxmoxNetworkError('connection to pve1 failed', { method: 'GET', path: '/version' }, { cause: root });
    const outer = new OciRuntimeError('crun create failed', { runtime: 'crun', exitCode: 1 }, { cause: net });
    expect(outer.code).toBe('ERR_OCI_RUNTIME');
    expect(outer.grpcStatus).toBe('Internal');
    expect(outer.cause).toBe(net);
    expect(net.cause).toBe(root);
    expect(net.grpcStatus).toBe('Unavailable');
    expect(outer).toBeInstanceOf(LxcriError);
    expect(outer).toBeInstanceOf(Error);
    expect(outer.name).toBe('OciRuntimeError');
    const json = JSON.parse(JSON.stringify(outer)) as Record<string, unknown>;
    expect(json).toMatchObject({
      name: 'OciRuntimeError',
      code: 'ERR_OCI_RUNTIME',
      cause: { name: 'ProxmoxNetworkError', code: 'ERR_PVE_NETWORK', cause: { name: 'Error', message: 'socket hang up' } },
    });
  });

  it('maps HTTP statuses to gRPC statuses and flags VMID conflicts', () => {
    const base = { statusText: 'x', method: 'POST', path: '/nodes/pve1/lxc', retryable: false };
    expect(new ProxmoxHttpError({ ...base, status: 400 }).grpcStatus).toBe('InvalidArgument');
    expect(new ProxmoxHttpError({ ...base, status: 403 }).grpcStatus).toBe('PermissionDenied');
    expect(new ProxmoxHttpError({ ...base, status: 596, retryable: true }).grpcStatus).toBe('Unavailable');
    const conflict = new ProxmoxHttpError({ ...base, status: 500, statusText: "CT 101 already exists on node 'pve1'", vmidConflict: true });
    expect(conflict.grpcStatus).toBe('AlreadyExists');
    expect(conflict.vmidConflict).toBe(true);
    const params = new ProxmoxHttpError({ ...base, status: 400, statusText: 'Parameter verification failed.', errors: { vmid: 'value must be at least 100' } });
    expect(params.message).toBe('POST /nodes/pve1/lxc failed: 400 Parameter verification failed. (vmid: value must be at least 100)');
    expect(params.errors).toEqual({ vmid: 'value must be at least 100' });
  });

  it('CriValidationError summarises issues and picks the most specific status', () => {
    const error = new CriValidationError([
      { path: 'config.metadata.name', code: 'required', message: 'name is required', grpcStatus: 'InvalidArgument' },
      { path: 'podSandboxId', code: 'not_found', message: 'sandbox abc not found', grpcStatus: 'NotFound' },
    ]);
    expect(error.code).toBe('ERR_CRI_VALIDATION');
    expect(error.grpcStatus).toBe('NotFound');
    expect(error.issues).toHaveLength(2);
    expect(error.message).toBe('invalid CRI request: config.metadata.name: name is required (and 1 more issue)');
  });

  it('ProxmoxTaskError carries exit status and log tail', () => {
    const upid = 'UPID:pve1:00001234:00ABCDEF:6745A1B2:vzcreate:101:root@pam:';
    const error = new ProxmoxTaskError({ upid, exitStatus: 'command failed', type: 'vzcreate', logTail: ['line 1', 'TASK ERROR: command failed'] });
    expect(error.exitStatus).toBe('command failed');
    expect(error.logTail).toEqual(['line 1', 'TASK ERROR: command failed']);
    expect(error.message).toBe('Proxmox task vzcreate failed: command failed');
  });

  it('type guards work across realms and for other copies of the class', () => {
    const error = new ProxmoxAuthError('authentication failure', { username: 'root@pam' });
    expect(isLxcriError(error)).toBe(true);
    expect(hasErrorCode(error, 'ERR_PVE_AUTH')).toBe(true);
    expect(hasErrorCode(error, 'ERR_PVE_HTTP')).toBe(false);
    // An object from another realm: same brand symbol (Symbol.for is agent-wide), different prototype chain.
    const foreign = runInNewContext(
      `const e = new Error('x'); Object.defineProperty(e, Symbol.for('proxmox-lxcri.error'), { value: true }); e.code = 'ERR_PVE_AUTH'; e`,
    ) as unknown;
    expect(foreign instanceof Error).toBe(false);
    expect(isLxcriError(foreign)).toBe(true);
    expect(hasErrorCode(foreign, 'ERR_PVE_AUTH')).toBe(true);
    // Look-alikes without the brand, or with an unknown code, are not ours.
    expect(isLxcriError(Object.assign(new Error('x'), { code: 'ERR_PVE_AUTH' }))).toBe(false);
    expect(isLxcriError(null)).toBe(false);
    expect(isLxcriError('ERR_PVE_AUTH')).toBe(false);
  });
});

describe('redaction', () => {
  it('never shows a token secret, password or ticket passed in any field', () => {
    const errors: Error[] = [
      new ProxmoxAuthError(`login failed for root@pam with password ${PASSWORD}`, { username: 'root@pam' }, { secrets: [PASSWORD] }),
      new ProxmoxHttpError({
        status: 401,
        statusText: `authentication failure; header was PVEAPIToken=root@pam!ci=${TOKEN_SECRET}`,
        method: 'GET',
        path: '/version',
        retryable: false,
        pveMessage: `cookie PVEAuthCookie=${TICKET}; CSRFPreventionToken: ${CSRF}`,
      }),
      new ProxmoxNetworkError(`request failed: password=${encodeURIComponent(PASSWORD)}&username=root@pam`, {
        reason: `ticket ${TICKET}`,
      }),
      new OciRuntimeError('runtime failed', {
        stderr: `env PVE_TOKEN=${TOKEN_SECRET}`,
        // an arbitrary nested structure with secret-named keys
        ...({ request: { headers: { Authorization: `PVEAPIToken=root@pam!ci=${TOKEN_SECRET}`, Cookie: `PVEAuthCookie=${TICKET}` }, password: PASSWORD, ticket: TICKET, CSRFPreventionToken: CSRF } } as object),
      }, { secrets: [TOKEN_SECRET] }),
      new LxcriError('ERR_INTERNAL', 'wrapped', { secret: TOKEN_SECRET, tokenSecret: TOKEN_SECRET }, {
        cause: Object.assign(new Error(`inner ${TICKET}`), { config: { password: PASSWORD } }),
        secrets: [PASSWORD],
      }),
    ];
    for (const error of errors) {
      const text = allRenderings(error);
      expect(text).not.toContain(TOKEN_SECRET);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
      expect(text).not.toContain(TICKET);
      expect(text).not.toContain(CSRF);
      expect(text).toContain(REDACTED);
    }
  });

  it('keeps identifiers that are not secrets', () => {
    const safe = redact({ tokenId: 'root@pam!ci', username: 'root@pam', vmid: 101, node: 'pve1', password: PASSWORD });
    expect(safe).toEqual({ tokenId: 'root@pam!ci', username: 'root@pam', vmid: 101, node: 'pve1', password: REDACTED });
    expect(redactString(`Authorization: PVEAPIToken=root@pam!ci=${TOKEN_SECRET}`)).toBe(`Authorization: PVEAPIToken=root@pam!ci=${REDACTED}`);
  });

  it('does not mutate its input and survives cycles', () => {
    const input: Record<string, unknown> = { password: PASSWORD, nested: { ok: 1 } };
    input['self'] = input;
    const out = redact(input) as Record<string, unknown>;
    expect(input['password']).toBe(PASSWORD);
    expect(out['password']).toBe(REDACTED);
    expect(out['self']).toBe('[Circular]');
  });

  it('the redacting logger scrubs fields and messages', () => {
    const lines: unknown[] = [];
    const sink: Logger = {
      debug: (f, m) => lines.push([f, m]),
      info: (f, m) => lines.push([f, m]),
      warn: (f, m) => lines.push([f, m]),
      error: (f, m) => lines.push([f, m]),
    };
    const secrets = new Set<string>([PASSWORD]);
    const logger = createRedactingLogger(sink, () => secrets);
    logger.debug({ headers: { authorization: `PVEAPIToken=a@pam!b=${TOKEN_SECRET}` }, path: '/version' }, `sent ${PASSWORD}`);
    secrets.add(TICKET);
    logger.info({ note: `renewed ${TICKET}` });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(TOKEN_SECRET);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(TICKET);
    expect(text).toContain('/version');
  });
});

describe('InvalidArgumentError', () => {
  it('keeps the ERR_INVALID_ARGUMENT code, names the field and maps to InvalidArgument', () => {
    const cause = new Error('ENOENT');
    const error = InvalidArgumentError.forField('source.path', 'cannot read /nope', { cause });
    expect(error).toBeInstanceOf(LxcriError);
    expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'ERR_INVALID_ARGUMENT', grpcStatus: 'InvalidArgument', message: 'source.path: cannot read /nope', details: { field: 'source.path' }, cause });
    expect(hasErrorCode(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
  });

  it('lets the caller choose another gRPC status', () => {
    expect(new InvalidArgumentError('tty is not supported', { field: 'process.terminal' }, { grpcStatus: 'Unimplemented' }).grpcStatus).toBe('Unimplemented');
  });
});
