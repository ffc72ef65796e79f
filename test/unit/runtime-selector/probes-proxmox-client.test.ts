/**
 * The Proxmox probe with the library's own ProxmoxClient over real HTTPS (a self-signed
 * certificate pinned by fingerprint), wired the way docs/runtime-selection.md shows.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from '../../../src/proxmox/client.js';
import { createRuntimeProbes } from '../../../src/exports/runtime-selector.js';
import { generateSelfSignedCertificate } from '../../../src/testing/certificate.js';

const SECRET = '0f9e8d7c-6b5a-4321-8765-0123456789ab';

describe('Proxmox probe through ProxmoxClient over HTTPS', () => {
  let server: Server;
  let baseUrl: string;
  let fingerprint256: string;
  const authorizations: string[] = [];

  beforeAll(async () => {
    const certificate = generateSelfSignedCertificate('localhost');
    fingerprint256 = certificate.fingerprint256;
    server = createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
      authorizations.push(String(req.headers.authorization));
      if (req.url !== '/api2/json/version') {
        res.writeHead(404, 'Not found').end();
      } else if (req.headers.authorization !== `PVEAPIToken=lxcri@pve!ci=${SECRET}`) {
        res.writeHead(401, 'invalid token value!').end(JSON.stringify({ data: null }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' });
        res.end(JSON.stringify({ data: { version: '9.1.3', release: '9.1', repoid: '6c2ca5a2' } }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const clientWith = (secret: string, pin: string): ProxmoxClient =>
    new ProxmoxClient({ baseUrl, auth: { type: 'token', tokenId: 'lxcri@pve!ci', secret }, tls: { fingerprint256: pin }, retry: { retries: 0 } });

  it('reports Proxmox VE available with its version', async () => {
    const client = clientWith(SECRET, fingerprint256);
    try {
      const result = await createRuntimeProbes({ proxmox: { version: (o) => client.version.get(o), authId: 'lxcri@pve!ci' } }).probeProxmox();
      expect(result).toEqual({ available: true, rootPam: false, authId: 'lxcri@pve!ci', version: '9.1.3', detail: 'GET /version answered: Proxmox VE 9.1.3 (release 9.1)' });
      expect(authorizations.at(-1)).toBe(`PVEAPIToken=lxcri@pve!ci=${SECRET}`);
    } finally {
      await client.close();
    }
  });

  it('reports a rejected token as unavailable, without the secret', async () => {
    const wrong = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
    const client = clientWith(wrong, fingerprint256);
    try {
      const result = await createRuntimeProbes({ proxmox: { version: (o) => client.version.get(o), authId: 'lxcri@pve!ci' } }).probeProxmox();
      expect(result.available).toBe(false);
      expect(result.detail).toMatch(/^GET \/version failed: ERR_PVE_(AUTH|HTTP): /);
      expect(result.detail).not.toContain(wrong);
    } finally {
      await client.close();
    }
  });

  it('reports a certificate that does not match the pin as unavailable', async () => {
    const otherPin = fingerprint256.replace(/^[0-9A-F]{2}/, (b) => (b === '00' ? '01' : '00'));
    const client = clientWith(SECRET, otherPin);
    try {
      const result = await createRuntimeProbes({ proxmox: { version: (o) => client.version.get(o) } }).probeProxmox();
      expect(result).toMatchObject({ available: false, rootPam: false });
      expect(result.detail).toMatch(/^GET \/version failed: ERR_PVE_NETWORK: /);
    } finally {
      await client.close();
    }
  });
});
