/**
 * Builds a small busybox OCI image layout in a temporary directory with umoci, from Debian's
 * busybox-static `/bin/busybox`. The image has:
 * - `/bin/busybox` and applet symlinks (`sh`, `id`, `cat`, `echo`, `env`, `pwd`, `hostname`, `touch`, `sleep`, `grep`, `tr`, ...),
 * - `/etc/passwd`: root (0), alice (1000, primary group 1000), bob (1001, primary 1001), nobody (65534);
 *   `/etc/group`: root 0, alice 1000, bob 1001, staff 50 (members alice,bob), video 44 (member alice), nogroup 65534,
 * - empty `/tmp`, `/home/alice`, `/work`,
 * - config: Env `PATH=/bin`, `IMAGE_VAR=from-image`, `SHARED=image`; Cmd `["sh"]`; WorkingDir `/work`;
 *   Labels `org.example.test=busybox`.
 * Needs umoci and busybox-static (`missing({ tools: ['umoci'] })` plus a check of BUSYBOX_PATH).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where Debian's busybox-static installs the binary. */
export const BUSYBOX_PATH = '/bin/busybox';

/** Applets linked in the image. */
export const BUSYBOX_APPLETS = ['sh', 'id', 'cat', 'echo', 'env', 'pwd', 'hostname', 'touch', 'sleep', 'ls', 'grep', 'mount', 'true', 'false', 'rm', 'tr', 'readlink', 'stat'] as const;

/** The passwd and group files of the image (also used by unit tests that need the same users). */
export const BUSYBOX_PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'bob:x:1001:1001::/home/bob:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
export const BUSYBOX_GROUP = ['root:x:0:', 'staff:x:50:alice,bob', 'video:x:44:alice', 'alice:x:1000:', 'bob:x:1001:', 'nogroup:x:65534:', ''].join('\n');

/** A built image layout. */
export interface BusyboxImage {
  /** The OCI image layout directory. */
  layout: string;
  /** The tag inside the layout. */
  tag: string;
  /** Removes the temporary directory. */
  cleanup(): Promise<void>;
}

/** True when busybox-static is installed. */
export function hasBusybox(): boolean {
  return existsSync(BUSYBOX_PATH);
}

/**
 * `undefined` when busybox-static is installed, else the skip reason — and in CI (`CI=true`) an
 * error, like `missing()` in requirements.ts (`busybox --version` is not an applet, so `missing`
 * cannot probe it).
 */
export function missingBusybox(): string | undefined {
  if (hasBusybox()) return undefined;
  const reason = `needs busybox-static (${BUSYBOX_PATH})`;
  if (process.env['CI'] === 'true') throw new Error(`CI=true but a test prerequisite is missing: ${reason}`);
  process.stderr.write(`[skip] ${reason}\n`);
  return reason;
}

/** Builds the image; `parent` defaults to the OS temp dir. */
export async function buildBusyboxImage(options: { parent?: string; tag?: string } = {}): Promise<BusyboxImage> {
  const base = await mkdtemp(join(options.parent ?? tmpdir(), 'lxcri-busybox-'));
  const tag = options.tag ?? 'latest';
  try {
    const layout = join(base, 'layout');
    const staging = join(base, 'staging');
    for (const d of ['bin', 'etc', 'tmp', 'home/alice', 'work']) await mkdir(join(staging, d), { recursive: true });
    await chmod(join(staging, 'tmp'), 0o1777);
    await copyFile(BUSYBOX_PATH, join(staging, 'bin/busybox'));
    await chmod(join(staging, 'bin/busybox'), 0o755);
    for (const applet of BUSYBOX_APPLETS) await symlink('busybox', join(staging, 'bin', applet));
    await writeFile(join(staging, 'etc/passwd'), BUSYBOX_PASSWD, { mode: 0o644 });
    await writeFile(join(staging, 'etc/group'), BUSYBOX_GROUP, { mode: 0o644 });

    await run('umoci', ['init', '--layout', layout]);
    await run('umoci', ['new', '--image', `${layout}:${tag}`]);
    await run('umoci', ['insert', '--image', `${layout}:${tag}`, staging, '/']);
    await run('umoci', [
      'config',
      '--image',
      `${layout}:${tag}`,
      '--config.env',
      'PATH=/bin',
      '--config.env',
      'IMAGE_VAR=from-image',
      '--config.env',
      'SHARED=image',
      '--config.cmd',
      'sh',
      '--config.workingdir',
      '/work',
      '--config.label',
      'org.example.test=busybox',
    ]);
    await rm(staging, { recursive: true, force: true });
    return { layout, tag, cleanup: () => rm(base, { recursive: true, force: true }) };
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw error;
  }
}
