/**
 * One transport test suite, run against every Transport implementation (default fetch+undici and
 * the axios adapter), over real HTTPS to a local node:https server.
 */
import { createServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/logger.js';
import { tlsOptionsSchema, type TlsOptions } from '../../../../src/proxmox/transport/tls.js';
import type { Transport, TransportFactory, TransportRequest } from '../../../../src/proxmox/transport/types.js';
import { isLxcriError } from '../../../../src/errors.js';
import { startHttpsServer, type TestHttpsServer } from './https-server.js';

async function caught(promise: Promise<unknown>): Promise<Record<string, unknown> & { code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isLxcriError(error)) return error as unknown as Record<string, unknown> & { code: string; message: string };
    throw error;
  }
  throw new Error('expected a rejection');
}

export function describeTransportSuite(name: string, makeFactory: () => TransportFactory): void {
  describe(`transport suite: ${name}`, () => {
    let server: TestHttpsServer;
    const open: Transport[] = [];
    const make = (tls: TlsOptions): Transport => {
      const t = makeFactory()({ tls: tlsOptionsSchema.parse(tls), logger: silentLogger });
      open.push(t);
      return t;
    };
    const pinned = (): Transport => make({ fingerprint256: server.fingerprint256 });
    const req = (over: Partial<TransportRequest> = {}): TransportRequest => ({
      method: 'GET',
      url: `${server.url}/api2/json/version`,
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
      ...over,
    });

    beforeAll(async () => {
      server = await startHttpsServer();
    });
    afterAll(async () => {
      await Promise.all(open.map((t) => t.close()));
      await server.close();
    });
    beforeEach(() => {
      server.requests.length = 0;
      server.handle = (_r, res) => {
        res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8', 'x-extra': 'yes' });
        res.end('{"data":{"version":"9.1.3"}}');
      };
    });

    it('returns status, the reason phrase, lower-case headers and the body text', async () => {
      server.handle = (_r, res) => {
        res.statusMessage = 'Parameter verification failed.';
        res.writeHead(400, { 'Content-Type': 'application/json;charset=UTF-8' });
        res.end('{"data":null,"errors":{"vmid":"value must be at least 100"}}');
      };
      const response = await pinned().send(req());
      expect(response.status).toBe(400);
      expect(response.statusText).toBe('Parameter verification failed.');
      expect(response.headers['content-type']).toBe('application/json;charset=UTF-8');
      expect(JSON.parse(response.body)).toEqual({ data: null, errors: { vmid: 'value must be at least 100' } });
    });

    it('sends method, headers and a form body as given', async () => {
      const response = await pinned().send(
        req({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', csrfpreventiontoken: 'abc' }, body: 'a=1&b=x%3By' }),
      );
      expect(response.status).toBe(200);
      const seen = server.requests[0];
      expect(seen?.method).toBe('POST');
      expect(seen?.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(seen?.headers['csrfpreventiontoken']).toBe('abc');
      expect(seen?.body.toString()).toBe('a=1&b=x%3By');
    });

    it('streams a body with Content-Length and no chunked encoding', async () => {
      const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(4096, i));
      const total = chunks.reduce((n, c) => n + c.length, 0);
      await pinned().send(req({ method: 'POST', body: { stream: Readable.from(chunks), length: total } }));
      const seen = server.requests[0];
      expect(seen?.headers['content-length']).toBe(String(total));
      expect(seen?.headers['transfer-encoding']).toBeUndefined();
      expect(seen?.body.equals(Buffer.concat(chunks))).toBe(true);
    });

    it('keeps connections alive between requests', async () => {
      const t = pinned();
      const before = server.connections;
      for (let i = 0; i < 3; i++) {
        expect((await t.send(req())).status).toBe(200);
        // undici hands the socket back to its pool in a tick after the body ended: one turn of the
        // event loop (no timed sleep) lets that happen before the next request is dispatched
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      expect(server.connections - before).toBe(1);
    });

    it('maps a dropped connection to a retryable ProxmoxNetworkError', async () => {
      server.handle = (_r, res) => res.socket?.destroy();
      const error = await caught(pinned().send(req()));
      expect(error.code).toBe('ERR_PVE_NETWORK');
      expect(error['retryable']).toBe(true);
      expect(error.message).toMatch(/^GET \/version: connection failed/);
    });

    it('maps an aborted request to AbortedError', async () => {
      const controller = new AbortController();
      // never answers: the caller gives up once the server has the request
      server.handle = () => controller.abort(new Error('caller gave up'));
      const pending = pinned().send(req({ signal: controller.signal }));
      const error = await caught(pending);
      expect(error.code).toBe('ERR_ABORTED');
    });

    it('closes the socket when the request is aborted (the server sees the connection go away)', async () => {
      const controller = new AbortController();
      // never answers: the caller gives up once the server has the request, and the server sees the socket close
      const closed = new Promise<true>((resolve) => {
        server.handle = (_r, res) => {
          res.socket?.once('close', () => resolve(true));
          controller.abort(new Error('caller gave up'));
        };
      });
      const pending = pinned().send(req({ signal: controller.signal }));
      expect((await caught(pending)).code).toBe('ERR_ABORTED');
      expect(await closed).toBe(true);
    });

    it('stops a TLS connect that never completes once the request is aborted (not at the 10 s connect timeout)', async () => {
      // a TCP server that accepts and never answers the TLS handshake
      const sockets: Socket[] = [];
      let connected!: (socket: Socket) => void;
      const firstConnection = new Promise<Socket>((r) => (connected = r));
      const silent = createServer((socket) => {
        sockets.push(socket);
        connected(socket);
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const port = (silent.address() as { port: number }).port;
      try {
        const controller = new AbortController();
        const t = make({ insecure: true });
        const pending = t.send(req({ url: `https://127.0.0.1:${port}/api2/json/version`, signal: controller.signal }));
        const socket = await firstConnection;
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        controller.abort(new Error('caller gave up'));
        expect((await caught(pending)).code).toBe('ERR_ABORTED');
        await closed; // the client gave up the handshake: the server sees the socket close
        expect(socket.destroyed).toBe(true);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    }, 5000);

    it('refuses a self-signed certificate by default, without retry', async () => {
      const error = await caught(make({}).send(req()));
      expect(error.code).toBe('ERR_PVE_NETWORK');
      expect(error['retryable']).toBe(false);
      expect(error.message).toMatch(/TLS certificate not trusted \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/);
      expect(server.requests).toHaveLength(0);
    });

    it('accepts the certificate through a custom CA', async () => {
      expect((await make({ ca: server.cert }).send(req())).status).toBe(200);
    });

    it('accepts a matching fingerprint pin (any case) and refuses a mismatch before sending anything', async () => {
      expect((await make({ fingerprint256: server.fingerprint256.toLowerCase() }).send(req())).status).toBe(200);
      const wrong = server.fingerprint256.startsWith('00') ? `11${server.fingerprint256.slice(2)}` : `00${server.fingerprint256.slice(2)}`;
      server.requests.length = 0;
      const error = await caught(make({ fingerprint256: wrong }).send(req({ method: 'POST', body: 'password=must-not-leak' })));
      expect(error.code).toBe('ERR_PVE_NETWORK');
      expect(error['retryable']).toBe(false);
      expect(error.message).toContain('does not match the pinned fingerprint');
      expect(error.message).toContain(server.fingerprint256);
      expect(server.requests).toHaveLength(0);
    });

    it('accepts anything with insecure: true (this transport only)', async () => {
      expect((await make({ insecure: true }).send(req())).status).toBe(200);
      // a default transport created afterwards still verifies: nothing process-wide changed
      expect((await caught(make({}).send(req()))).code).toBe('ERR_PVE_NETWORK');
    });
  });
}
