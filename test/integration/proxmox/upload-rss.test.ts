/**
 * Uploading 200 MiB must not buffer the file: the client's peak RSS may rise by less than 64 MiB.
 * The client runs alone in a child process (bench/upload-rss.ts), so the numbers are not mixed
 * with the simulator's, which receives the upload over real HTTPS in this process.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPveSimulator, type PveSimulator } from '../../../src/testing/index.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SIZE = 200 * 1024 * 1024;
const LIMIT = 64 * 1024 * 1024;

let sim: PveSimulator;
beforeAll(async () => {
  sim = await startPveSimulator({ taskDurationsMs: { default: 10 } });
});
afterAll(async () => {
  await sim?.close();
});

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe.each(['fetch', 'axios'])('200 MiB upload with the %s transport', (transport) => {
  it('streams: peak RSS rises by less than 64 MiB, the file arrives intact', async () => {
    const creds = sim.state.credentials;
    const { stdout } = await run(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        'bench/upload-rss.ts',
        '--url', sim.url,
        '--fingerprint', sim.fingerprint256,
        '--token-id', creds.tokenId!,
        '--token-secret', creds.tokenSecret!,
        '--transport', transport,
        '--size', String(SIZE),
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 180_000 },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { riseBytes: number; riseMiB: number; bytes: number; volid: string; sha256: string };
    console.log(`[${transport}] 200 MiB upload: client RSS rise ${result.riseMiB} MiB`);
    expect(result.bytes).toBe(SIZE);
    expect(result.riseBytes).toBeLessThan(LIMIT);
    const stored = sim.state.volumePath('pve1', result.volid)!;
    expect((await stat(stored)).size).toBe(SIZE);
    expect(await sha256(stored)).toBe(result.sha256);
    const upload = sim.state.requestLog.filter((e) => e.path === '/nodes/pve1/storage/local/upload').at(-1);
    expect(upload).toMatchObject({ status: 200, method: 'POST' });
  }, 200_000);
});
