/**
 * A small distribution API server over plain HTTP on 127.0.0.1 that serves an OCI image layout
 * and misbehaves on request: tampered blobs, connections cut mid-blob, blobs redirected to another
 * host (`localhost` instead of `127.0.0.1`), 429 with `Retry-After`, a wrong `Docker-Content-Digest`.
 * It records every request (path, headers, time) for the tests to assert on.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';

/** One request the server saw. */
export interface SeenRequest {
  host: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
  status: number;
  at: number;
}

/** What the server does wrong (mutable between pulls). */
export interface Faults {
  /** Blobs served with one byte flipped. */
  tamper: Set<string>;
  /** Blobs whose connection is cut after this many bytes (once). */
  cutAfter: Map<string, number>;
  /** Answer blob GETs with a 307 to `http://localhost:PORT/storage/<digest>`. */
  redirectBlobs: boolean;
  /** Answer this many manifest GETs with 429 `Retry-After: 1` first. */
  rateLimit: number;
  /** Send a wrong `Docker-Content-Digest` with manifests. */
  wrongDigestHeader: boolean;
  /** Ignore `Range` (answer 200 with the whole blob). */
  noRange: boolean;
}

/** A running fake registry. */
export interface FakeRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  port: number;
  requests: SeenRequest[];
  faults: Faults;
  close(): Promise<void>;
}

/** Serves `layout` (an OCI image layout directory) as repository `test/app`; Basic auth when `basic` is given. */
export async function startFakeRegistry(layout: string, options: { basic?: { user: string; password: string } } = {}): Promise<FakeRegistry> {
  const faults: Faults = { tamper: new Set(), cutAfter: new Map(), redirectBlobs: false, rateLimit: 0, wrongDigestHeader: false, noRange: false };
  const requests: SeenRequest[] = [];
  const index = (): { manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[] } => JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as never;
  const blob = (digest: string): Buffer | undefined => {
    try {
      return readFileSync(join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
    } catch {
      return undefined;
    }
  };
  let port = 0;
  const sendBlob = (req: IncomingMessage, res: ServerResponse, digest: string, record: (status: number) => void): void => {
    let data = blob(digest);
    if (data === undefined) {
      record(404);
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] }));
      return;
    }
    if (faults.tamper.has(digest)) {
      data = Buffer.from(data);
      data[data.length >> 1] = (data[data.length >> 1] ?? 0) ^ 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !faults.noRange && Number(range[1]) < data.length) start = Number(range[1]);
    const body = data.subarray(start);
    const status = start > 0 ? 206 : 200;
    record(status);
    res.writeHead(status, {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      'docker-content-digest': digest,
      'accept-ranges': 'bytes',
      ...(start > 0 ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    const cut = faults.cutAfter.get(digest);
    if (cut !== undefined && cut < body.length) {
      faults.cutAfter.delete(digest);
      res.write(body.subarray(0, cut), () => {
        res.socket?.destroy();
      });
      return;
    }
    res.end(body);
  };
  const server = createServer((req, res) => {
    const host = req.headers.host ?? '';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const seen: SeenRequest = { host, path, authorization: req.headers.authorization, range: req.headers.range, status: 0, at: Date.now() };
    requests.push(seen);
    const record = (status: number): void => {
      seen.status = status;
    };
    const storage = /^\/storage\/(sha256:[a-f0-9]{64})$/.exec(path);
    if (storage?.[1]) {
      sendBlob(req, res, storage[1], record);
      return;
    }
    if (options.basic) {
      const expected = `Basic ${Buffer.from(`${options.basic.user}:${options.basic.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        record(401);
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
    }
    if (path === '/v2/') {
      record(200);
      res.writeHead(200).end('{}');
      return;
    }
    const manifest = /^\/v2\/test\/app\/manifests\/(.+)$/.exec(path);
    if (manifest?.[1]) {
      if (faults.rateLimit > 0) {
        faults.rateLimit -= 1;
        record(429);
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
        return;
      }
      const ref = manifest[1];
      const entry = ref.startsWith('sha256:') ? undefined : index().manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === ref);
      const digest = ref.startsWith('sha256:') ? ref : entry?.digest;
      const data = digest === undefined ? undefined : blob(digest);
      if (digest === undefined || data === undefined) {
        record(404);
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
        return;
      }
      const mediaType = (JSON.parse(data.toString('utf8')) as { mediaType?: string }).mediaType ?? entry?.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
      const sent = faults.wrongDigestHeader ? `sha256:${createHash('sha256').update('something else').digest('hex')}` : digest;
      record(200);
      res.writeHead(200, { 'content-type': mediaType, 'content-length': String(data.length), 'docker-content-digest': sent }).end(data);
      return;
    }
    const blobMatch = /^\/v2\/test\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
    if (blobMatch?.[1]) {
      if (faults.redirectBlobs) {
        record(307);
        res.writeHead(307, { location: `http://localhost:${port}/storage/${blobMatch[1]}` }).end();
        return;
      }
      sendBlob(req, res, blobMatch[1], record);
      return;
    }
    record(404);
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository unknown' }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
