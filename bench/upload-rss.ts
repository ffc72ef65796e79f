/**
 * Measures the client's peak RSS while uploading a large file to a PVE (or simulator) node.
 * Runs the client alone in this process; prints one JSON line.
 *
 *   tsx bench/upload-rss.ts --url https://127.0.0.1:8006 --fingerprint AA:BB:… \
 *     --token-id root@pam!lxcri --token-secret … --file /tmp/big.tar [--transport fetch|axios]
 *     [--phase all|checksum]
 *
 * Without --file it creates a 200 MiB file in a temp dir. Without --url it starts the simulator
 * in a child process first.
 */
import { createHash } from 'node:crypto';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import axios from 'axios';
import { ProxmoxClient } from '../src/index.js';
import { axiosTransport, fetchTransport } from '../src/exports/proxmox.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    fingerprint: { type: 'string' },
    'token-id': { type: 'string' },
    'token-secret': { type: 'string' },
    file: { type: 'string' },
    size: { type: 'string', default: String(200 * 1024 * 1024) },
    transport: { type: 'string', default: 'fetch' },
    node: { type: 'string', default: 'pve1' },
    storage: { type: 'string', default: 'local' },
  },
});

async function makeFile(size: number): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lxcri-bench-'));
  const path = join(dir, 'bench-template.tar');
  const file = await open(path, 'w');
  const block = Buffer.alloc(1024 * 1024);
  let seed = createHash('sha256').update('bench').digest();
  for (let o = 0; o < block.length; o += 32) {
    seed = createHash('sha256').update(seed).digest();
    seed.copy(block, o);
  }
  for (let written = 0; written < size; written += block.length) {
    block.writeUInt32BE(written / block.length, 0);
    await file.write(block, 0, Math.min(block.length, size - written));
  }
  await file.close();
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function main(): Promise<void> {
  if (!values.url || !values.fingerprint || !values['token-id'] || !values['token-secret']) {
    throw new Error('--url, --fingerprint, --token-id and --token-secret are required');
  }
  const size = Number(values.size);
  const made = values.file ? undefined : await makeFile(size);
  const path = values.file ?? made!.path;
  const client = new ProxmoxClient({
    baseUrl: values.url,
    auth: { type: 'token', tokenId: values['token-id'], secret: values['token-secret'] },
    tls: { fingerprint256: values.fingerprint },
    transport: values.transport === 'axios' ? axiosTransport(axios.create()) : fetchTransport(),
    tasks: { pollMinMs: 20, pollMaxMs: 200, timeoutMs: 300_000, logPageSize: 500 },
  });
  try {
    await client.version.get();
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 100));
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sample = (): void => {
      peak = Math.max(peak, process.memoryUsage.rss());
    };
    const timer = setInterval(sample, 5);
    const started = performance.now();
    let result;
    try {
      result = await client.storage.upload(values.node!, values.storage!, { content: 'vztmpl', source: { path }, onProgress: sample });
      await client.tasks.wait(result.upid);
    } finally {
      clearInterval(timer);
    }
    process.stdout.write(
      `${JSON.stringify({
        transport: values.transport,
        bytes: size,
        baselineRss: baseline,
        peakRss: peak,
        riseBytes: peak - baseline,
        riseMiB: Math.round(((peak - baseline) / 2 ** 20) * 10) / 10,
        ms: Math.round(performance.now() - started),
        volid: result.volid,
        sha256: result.checksum?.value,
      })}\n`,
    );
  } finally {
    await client.close();
    await made?.cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
