import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { undiciTransport } from '../../../../src/oci/registry/undici.js';

describe('undiciTransport', () => {
  const seen: { method: string | undefined; url: string | undefined; ua: string | undefined }[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, ua: req.headers['user-agent'] });
    res.setHeader('content-type', 'text/plain');
    res.end(`hello ${req.url}`);
  });
  let origin = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("loads undici's own Agent class and request API from its lib/ modules, not the index", () => {
    const transport = undiciTransport();
    expect(transport.source).toBe('lib');
    // the same module files the index loads: one class, whichever way it was reached
    expect(transport.Agent).toBe(Agent);
    expect(undiciTransport()).toBe(transport);
  });

  it('sends a request with path, query and headers on an Agent and streams the answer', async () => {
    const transport = undiciTransport();
    const agent = new transport.Agent({ connections: 1 });
    try {
      const response = await transport.request(agent, { origin, path: '/v2/a/manifests/b?x=1', method: 'GET', headers: { 'user-agent': 'lxcri-test' } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/plain');
      expect(await response.body.text()).toBe('hello /v2/a/manifests/b?x=1');
      expect(seen.at(-1)).toEqual({ method: 'GET', url: '/v2/a/manifests/b?x=1', ua: 'lxcri-test' });
    } finally {
      await agent.close();
    }
  });
});
