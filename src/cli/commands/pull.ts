import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { PullProgress } from '../../oci/registry/pull.js';
import type { CliCommand, CliIo } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri pull REFERENCE --store DIR [--platform OS/ARCH[/VARIANT]] [--authfile FILE]
                  [--ca FILE] [--insecure-registry HOST]... [--concurrency N]

Pulls an image from a registry into the image store DIR (an OCI image layout, created when
missing; 'lxcri unpack --image DIR:REFERENCE' and the layer cache read it). REFERENCE follows
containerd's rules: nginx = docker.io/library/nginx:latest, host:port/repo:tag, repo@sha256:...
Blobs already in the store are not fetched again; an interrupted pull resumes.

Options:
  --store DIR               the image store (required)
  --platform P              platform to pick from a multi-arch index (default: this host's)
  --authfile FILE           credentials in the docker/containers auth.json format (default:
                            REGISTRY_AUTH_FILE, ~/.config/containers/auth.json, DOCKER_CONFIG,
                            ~/.docker/config.json; anonymous when none has the registry)
  --ca FILE                 PEM CA certificate(s) to trust for the registry (default: system CAs)
  --insecure-registry HOST  speak plain HTTP to HOST (host[:port] as in REFERENCE); repeatable
  --concurrency N           parallel blob downloads (default 4)

Shows a progress bar on stderr when it is a terminal. Prints a JSON summary:
{ reference, manifestDigest, configDigest, platform, layers, size, fetchedBlobs, reusedBlobs, downloadedBytes, store }.`;

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** A progress bar on stderr, redrawn at most every 100 ms. */
function progressBar(io: CliIo): { update(p: PullProgress): void; end(): void } {
  let last = 0;
  let drawn = false;
  const draw = (p: PullProgress): void => {
    const width = 30;
    const ratio = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 0;
    const filled = Math.round(ratio * width);
    io.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)} blobs ${p.blobsDone}/${p.blobsTotal}\x1b[K`);
    drawn = true;
  };
  return {
    update(p) {
      const now = Date.now();
      if (p.phase === 'blob' && now - last < 100) return;
      last = now;
      if (p.totalBytes > 0) draw(p);
    },
    end() {
      if (drawn) io.stderr.write('\n');
    },
  };
}

/** `lxcri pull`: registry → image store. */
export const pullCommand: CliCommand = {
  name: 'pull',
  summary: 'pull an image from a registry into an image store (OCI layout)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      store: { type: 'string' },
      platform: { type: 'string' },
      authfile: { type: 'string' },
      ca: { type: 'string' },
      'insecure-registry': { type: 'string', multiple: true },
      concurrency: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('exactly one REFERENCE is required');
    const store = values['store'];
    if (typeof store !== 'string' || store === '') throw new UsageError('--store DIR is required');
    const concurrencyText = values['concurrency'];
    const concurrency = typeof concurrencyText === 'string' ? Number(concurrencyText) : undefined;
    if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32)) throw new UsageError('--concurrency must be an integer from 1 to 32');
    const insecure = values['insecure-registry'];
    const authfile = values['authfile'];
    const ca = values['ca'];
    const platform = values['platform'];
    const bar = (io.stderr as { isTTY?: boolean }).isTTY === true ? progressBar(io) : undefined;
    // undici parses HTTP with llhttp compiled to WebAssembly. V8 first compiles it with Liftoff,
    // then again with TurboFan in background jobs that the process waits for before it exits:
    // about 100 ms of CPU, most of a small pull's. Liftoff's code is fast enough here (a blob's
    // body is passed through by length, not parsed), so this process keeps it.
    setFlagsFromString('--liftoff-only');
    // loaded here, not at start-up: undici is only needed by this command
    const { pullImage } = await import('../../oci/registry/pull.js');
    try {
      const image = await pullImage(positionals[0] as string, {
        store: resolve(io.cwd, store),
        ...(typeof platform === 'string' ? { platform } : {}),
        auth: { env: io.env, ...(typeof authfile === 'string' ? { authFile: resolve(io.cwd, authfile) } : {}) },
        ...(typeof ca === 'string' ? { tls: { caFile: resolve(io.cwd, ca) } } : {}),
        ...(Array.isArray(insecure) ? { insecureRegistries: insecure.filter((h): h is string => typeof h === 'string') } : {}),
        ...(concurrency === undefined ? {} : { concurrency }),
        ...(io.signal ? { signal: io.signal } : {}),
        ...(bar ? { onProgress: (p: PullProgress) => bar.update(p) } : {}),
      });
      bar?.end();
      printJson(io, {
        reference: image.reference,
        manifestDigest: image.manifestDigest,
        configDigest: image.configDigest,
        platform: `${image.config.os}/${image.config.architecture}${image.config.variant ? `/${image.config.variant}` : ''}`,
        layers: image.layers.length,
        size: image.layers.reduce((n, l) => n + l.size, image.manifest.config.size),
        ...image.pull,
        store: image.layout.dir,
      });
      return 0;
    } catch (error) {
      bar?.end();
      throw error;
    }
  },
};
