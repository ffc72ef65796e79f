/**
 * A real HTTPS server for transport tests: self-signed certificate (node:crypto only, from the
 * simulator's generator), a scripted handler, and counters of TCP connections and requests.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSelfSignedCertificate } from '../../../../src/testing/index.js';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface TestHttpsServer {
  url: string;
  port: number;
  cert: string;
  fingerprint256: string;
  connections: number;
  requests: ReceivedRequest[];
  handle: (req: ReceivedRequest, res: ServerResponse, raw: IncomingMessage) => void;
  close(): Promise<void>;
}

export async function startHttpsServer(): Promise<TestHttpsServer> {
  const certificate = generateSelfSignedCertificate('localhost', 2);
  const state: TestHttpsServer = {
    url: '',
    port: 0,
    cert: certificate.cert,
    fingerprint256: certificate.fingerprint256,
    connections: 0,
    requests: [],
    handle: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' });
      res.end('{"data":null}');
    },
    close: async () => undefined,
  };
  const server = https.createServer({ key: certificate.key, cert: certificate.cert, keepAliveTimeout: 10_000 }, (raw, res) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const req = { method: raw.method ?? '', url: raw.url ?? '', headers: raw.headers, body: Buffer.concat(chunks) };
      state.requests.push(req);
      state.handle(req, res, raw);
    });
  });
  server.on('secureConnection', () => {
    state.connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.address() as AddressInfo).port;
  state.url = `https://localhost:${state.port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
