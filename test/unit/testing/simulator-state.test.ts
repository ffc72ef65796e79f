import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  PveSimulatorState,
  createSimulatorToken,
  createSimulatorUser,
  generateSelfSignedCertificate,
  normalizeUploadFilename,
  resolvePveSimulatorOptions,
} from '../../../src/testing/index.js';
import { InvalidOptionsError } from '../../../src/errors.js';

describe('simulator options', () => {
  it('rejects unknown and invalid options naming the field', () => {
    expect(() => resolvePveSimulatorOptions({ nodes: ['bad_node'], colour: 'red' })).toThrow(InvalidOptionsError);
    expect(() => resolvePveSimulatorOptions({ nodes: ['bad_node'], version: '7.4' })).toThrow(/nodes\.0: invalid node name.*|version/);
    expect(() => resolvePveSimulatorOptions({ nodes: ['pve1'], version: '7.4' })).toThrow(/^invalid PVE simulator options: version: /);
    expect(() => resolvePveSimulatorOptions({ storages: [{ id: 'aa', content: ['vztmpl'] }, { id: 'aa', content: ['iso'] }] })).toThrow(/duplicate id 'aa'/);
  });

  it('builds users and tokens with helpers; the default has root@pam with a password and a token', async () => {
    const token = createSimulatorToken('ci');
    expect(token.secret).toMatch(/^[0-9a-f-]{36}$/);
    expect(() => createSimulatorUser('no-realm', 'pw')).toThrow();
    const state = await PveSimulatorState.create();
    try {
      const creds = state.credentials;
      expect(creds.username).toBe('root@pam');
      expect(creds.password.length).toBeGreaterThanOrEqual(12);
      expect(creds.authorization).toBe(`PVEAPIToken=root@pam!lxcri=${creds.tokenSecret}`);
      expect(state.authErrorStyle).toBe('unified');
      expect(existsSync(state.storagePath('pve1', 'local'))).toBe(true);
    } finally {
      await state.close();
    }
    expect(existsSync(state.dataDir)).toBe(false);
  });
});

describe('tickets, CSRF tokens and locks', () => {
  it('verifies its own tickets and CSRF tokens only, within the lifetime', async () => {
    let now = Date.UTC(2026, 5, 1);
    const state = await PveSimulatorState.create({ clock: { now: () => now }, ticketLifetimeMs: 60_000 });
    try {
      const ticket = state.createTicket('root@pam');
      expect(state.verifyTicket(ticket)).toBe('root@pam');
      expect(state.verifyTicket(ticket.replace('root@pam', 'admin@pam'))).toBeUndefined();
      const csrf = state.createCsrfToken('root@pam');
      expect(state.verifyCsrfToken(csrf, 'root@pam')).toBe(true);
      expect(state.verifyCsrfToken(csrf, 'other@pve')).toBe(false);
      now += 61_000;
      expect(state.verifyTicket(ticket)).toBeUndefined();
      expect(state.verifyCsrfToken(csrf, 'root@pam')).toBe(false);
    } finally {
      await state.close();
    }
  });

  it('hands the config lock to waiters in order and times out', async () => {
    const state = await PveSimulatorState.create();
    try {
      const release = await state.acquireConfigLock(100, 1000);
      expect(release).toBeTypeOf('function');
      const timedOut = await state.acquireConfigLock(100, 30);
      expect(timedOut).toBeUndefined();
      const waiting = state.acquireConfigLock(100, 1000);
      release?.();
      const next = await waiting;
      expect(next).toBeTypeOf('function');
      expect(state.isConfigLocked(100)).toBe(true);
      next?.();
      expect(state.isConfigLocked(100)).toBe(false);
    } finally {
      await state.close();
    }
  });
});

describe('helpers', () => {
  it('always encodes valid DER (200 certificates parse)', () => {
    for (let i = 0; i < 200; i++) expect(() => new X509Certificate(generateSelfSignedCertificate('n').cert)).not.toThrow();
  });

  it('generates a self-signed certificate for 127.0.0.1 and localhost', () => {
    const { cert, fingerprint256 } = generateSelfSignedCertificate('pve1');
    const x509 = new X509Certificate(cert);
    expect(x509.fingerprint256).toBe(fingerprint256);
    expect(x509.subject).toContain('CN=pve1');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.verify(x509.publicKey)).toBe(true);
  });

  it('normalises upload file names as pve-storage does', () => {
    expect(normalizeUploadFilename('../../etc/my tmpl (2).tar.zst')).toBe('my_tmpl__2_.tar.zst');
    expect(normalizeUploadFilename('C:\\Users\\a\\ü.tar')).toBe('_.tar');
  });
});
