/**
 * bench/template: building and uploading the LXC template of a big image — PVE 9.1's OCI archive
 * and PVE 8.x's rootfs `.tar.gz` — by `createContainer` (the compiled package) in a child process
 * (its peak RSS is its own; target ≤ 150 MiB), against the simulator in this process; the
 * throughput is compared with `tar -czf` of the same rootfs. The image is generated locally (files
 * of random-ish, half-compressible data plus busybox as /bin/sh), no network. Not a timed test.
 *
 *   npm run bench template   |   npx tsx bench/template.ts [--size-mib 256]   (the issue's figure: --size-mib 1024)
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { loadDistTesting, round, writeResult } from './_lib.js';

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '256' } } });
const SIZE = Number(values['size-mib']) * 2 ** 20;

const CHILD = `
const { Lxcri, createContainer } = await import(process.env.LXCRI_DIST + '/index.js');
const input = JSON.parse(process.env.LXCRI_TEMPLATE_INPUT);
const lxcri = new Lxcri(input.options);
const marks = {};
const t0 = performance.now();
const cpu = process.cpuUsage();
const made = await createContainer(input.request, { lxcri, onProgress: (p) => { if (p.phase && !(p.phase in marks)) marks[p.phase] = performance.now() - t0; } });
const ms = performance.now() - t0;
const used = process.cpuUsage(cpu);
await lxcri.close();
process.stdout.write(JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, marks, vmid: made.vmid }) + '\\n');
`;

async function sha256File(path: string, gunzip = false): Promise<string> {
  const hash = createHash('sha256');
  if (gunzip) await pipeline(createReadStream(path), createGunzip(), hash);
  else await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Files of 1-8 MiB: random 4 KiB blocks, each followed by 4 KiB of zeros (about half compressible). */
async function makeRootfs(dir: string): Promise<number> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'sbin'), { recursive: true });
  if (existsSync('/bin/busybox')) await copyFile('/bin/busybox', join(dir, 'bin', 'sh'));
  let written = 0;
  let i = 0;
  while (written < SIZE) {
    const size = Math.min(SIZE - written, (1 + (i % 8)) * 2 ** 20);
    const buf = Buffer.alloc(size);
    for (let o = 0; o < size; o += 8192) randomBytes(Math.min(4096, size - o)).copy(buf, o);
    const sub = join(dir, 'data', `d${i % 16}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `f${i}.bin`), buf);
    written += size;
    i++;
  }
  return written;
}

async function writeBlob(layout: string, data: string | Buffer): Promise<{ digest: string; size: number }> {
  const digest = createHash('sha256').update(data).digest('hex');
  await writeFile(join(layout, 'blobs', 'sha256', digest), data);
  return { digest: `sha256:${digest}`, size: Buffer.byteLength(data) };
}

const testing = await loadDistTesting();
const work = await mkdtemp(join(tmpdir(), 'lxcri-bench-template-'));
try {
  console.log(`generating a ${SIZE / 2 ** 20} MiB rootfs ...`);
  const rootfs = join(work, 'rootfs');
  const bytes = await makeRootfs(rootfs);

  // the reference: tar -czf of the rootfs (its output is also the image's one layer)
  const layerPath = join(work, 'layer.tar.gz');
  let t = performance.now();
  execFileSync('tar', ['-czf', layerPath, '-C', rootfs, '.']);
  const tarMs = performance.now() - t;

  const layout = join(work, 'layout');
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layerDigest = await sha256File(layerPath);
  const layerSize = (await stat(layerPath)).size;
  execFileSync('mv', [layerPath, join(layout, 'blobs', 'sha256', layerDigest)]);
  const diffId = await sha256File(join(layout, 'blobs', 'sha256', layerDigest), true);
  const config = await writeBlob(
    layout,
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh', '-c', 'true'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] } }),
  );
  const manifest = await writeBlob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerDigest}`, size: layerSize }],
    }),
  );
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'big' } }] }),
  );
  await rm(rootfs, { recursive: true, force: true });

  const childFile = join(work, 'child.mjs');
  await writeFile(childFile, CHILD);
  const results: Record<string, unknown>[] = [];
  for (const version of ['9.1', '8.4'] as const) {
    const sim = await testing.startPveSimulator({ version, taskDurationsMs: { default: 1 } });
    try {
      const { tokenId, tokenSecret } = sim.state.credentials;
      const stateDir = join(work, `state-${version}`);
      const input = {
        options: {
          stateDir,
          images: layout,
          policy: { defaultRuntime: 'proxmox-lxc' },
          hostChecks: false,
          proxmox: {
            client: { baseUrl: sim.url, auth: { type: 'token', tokenId, secret: tokenSecret }, tls: { fingerprint256: sim.fingerprint256 }, tasks: { pollMinMs: 20, pollMaxMs: 200 } },
            lxc: { workDir: join(stateDir, 'templates'), pollMs: 20 },
          },
        },
        request: { config: { metadata: { name: 'app' }, image: { image: 'big' } }, sandboxConfig: { metadata: { name: 'pod', uid: 'uid-pod', namespace: 'bench' } } },
      };
      t = performance.now();
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [childFile], {
          env: { ...process.env, LXCRI_DIST: new URL('../dist', import.meta.url).pathname, LXCRI_TEMPLATE_INPUT: JSON.stringify(input) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`child exited with ${code}`))));
      });
      const r = JSON.parse(out) as { ms: number; cpuMs: number; maxRssMiB: number; marks: Record<string, number> };
      const templateMs = (r.marks['create'] ?? r.ms) - (r.marks['template-lookup'] ?? 0);
      results.push({
        pveVersion: version,
        mode: version === '9.1' ? 'oci archive' : 'rootfs .tar.gz',
        createMs: round(r.ms, 0),
        templateMs: round(templateMs, 0),
        phasesMs: Object.fromEntries(Object.entries(r.marks).map(([k, v]) => [k, round(v, 0)])),
        peakRssMiB: round(r.maxRssMiB, 1),
        mibPerSecond: round(bytes / 2 ** 20 / (templateMs / 1000), 1),
        vsTarCzf: round(templateMs / tarMs, 2),
      });
    } finally {
      await sim.close();
    }
  }
  const result = {
    imageMiB: round(bytes / 2 ** 20, 0),
    layerMiB: round(layerSize / 2 ** 20, 0),
    tarCzfMs: round(tarMs, 0),
    tarCzfMibPerSecond: round(bytes / 2 ** 20 / (tarMs / 1000), 1),
    templates: results,
    target: 'peak RSS ≤ 150 MiB (for 1 GiB: --size-mib 1024)',
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${writeResult(`template-${SIZE / 2 ** 20}MiB`, result)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
