import type { Socket } from 'node:net';
import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { axiosTransport, fetchTransport, type AxiosLike } from '../../../src/exports/proxmox.js';
import { describeTransportSuite } from './helpers/transport-suite.js';

describeTransportSuite('fetch + undici Agent (default)', () => fetchTransport());
describeTransportSuite('axios adapter', () => axiosTransport(axios.create()));

describe('axios adapter typing', () => {
  it('accepts a real AxiosInstance structurally (axios is never imported by the library)', () => {
    const instance: AxiosLike = axios.create();
    expect(typeof instance.request).toBe('function');
  });
});

describe('connectTls', () => {
  it('gives up after connectTimeoutMs when the peer never completes the handshake', async () => {
    const { createServer } = await import('node:net');
    const { connectTls, tlsOptionsSchema } = await import('../../../src/proxmox/transport/tls.js');
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s)); // accepts TCP, never speaks TLS
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    await expect(connectTls({ host: '127.0.0.1', port, connectTimeoutMs: 150 }, tlsOptionsSchema.parse({ insecure: true }))).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(Date.now() - started).toBeLessThan(2000);
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });
});
