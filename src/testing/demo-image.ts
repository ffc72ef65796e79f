/**
 * A small OCI image made here, offline and without any tool: what `npm run demo` and tests use
 * when no registry is at hand. One gzip layer with a minimal root filesystem (`/etc/passwd`,
 * `/etc/group`, `/etc/os-release`, `/tmp`, ...) and a program to run:
 *
 * - Debian's busybox-static (`/bin/busybox`, with `sh`, `echo`, `env`, `id`, ... links) when the
 *   host has a statically linked busybox, so the container can run shell commands;
 * - otherwise, on x86-64, a 165-byte static ELF program `/bin/hello` generated here that prints a
 *   greeting and exits 0.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { FailedPreconditionError } from '../errors.js';

/** Options of {@link buildDemoImage}. */
export interface BuildDemoImageOptions {
  /**
   * A statically linked busybox to put in the image, `false` for none.
   * @defaultValue `/bin/busybox` when it exists and is static
   */
  busybox?: string | false;
  /**
   * Tag inside the layout (`org.opencontainers.image.ref.name`).
   * @defaultValue `'latest'`
   */
  tag?: string;
}

/** The image {@link buildDemoImage} wrote. */
export interface DemoImage {
  /** The OCI image layout directory. */
  layout: string;
  /** The reference to resolve in it, `lxcri-demo:<tag>`. */
  reference: string;
  /** The manifest digest. */
  manifestDigest: string;
  /** What the image runs by default. */
  cmd: string[];
  /** True when the image has busybox (a shell); false when it has only `/bin/hello`. */
  hasShell: boolean;
}

const GREETING = 'hello from a proxmox-lxcri demo container\n';

/**
 * A static x86-64 Linux ELF executable that writes {@link GREETING} to stdout and exits 0: an ELF
 * header, one PT_LOAD program header, 33 bytes of code (write, exit) and the message.
 */
export function helloElfX8664(message = GREETING): Buffer {
  const msg = Buffer.from(message, 'utf8');
  if (msg.length > 255) throw new RangeError('message too long');
  const base = 0x400000;
  const codeOffset = 64 + 56;
  const code = Buffer.from([
    0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (write)
    0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1 (stdout)
    0x48, 0x8d, 0x35, 0x10, 0x00, 0x00, 0x00, // lea rsi, [rip + 16] (the message after this code)
    0xba, msg.length, 0x00, 0x00, 0x00, // mov edx, len
    0x0f, 0x05, // syscall
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
    0x31, 0xff, // xor edi, edi
    0x0f, 0x05, // syscall
  ]);
  const total = codeOffset + code.length + msg.length;
  const elf = Buffer.alloc(total);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(elf, 0); // ELF64, little endian, SysV
  elf.writeUInt16LE(2, 16); // ET_EXEC
  elf.writeUInt16LE(0x3e, 18); // x86-64
  elf.writeUInt32LE(1, 20);
  elf.writeBigUInt64LE(BigInt(base + codeOffset), 24); // entry
  elf.writeBigUInt64LE(64n, 32); // program headers right after the header
  elf.writeUInt16LE(64, 52);
  elf.writeUInt16LE(56, 54);
  elf.writeUInt16LE(1, 56);
  elf.writeUInt32LE(1, 64); // PT_LOAD
  elf.writeUInt32LE(5, 68); // R + X
  elf.writeBigUInt64LE(0n, 72);
  elf.writeBigUInt64LE(BigInt(base), 80);
  elf.writeBigUInt64LE(BigInt(base), 88);
  elf.writeBigUInt64LE(BigInt(total), 96);
  elf.writeBigUInt64LE(BigInt(total), 104);
  elf.writeBigUInt64LE(0x1000n, 112);
  code.copy(elf, codeOffset);
  msg.copy(elf, codeOffset + code.length);
  return elf;
}

/** True when `path` is an ELF executable without a program interpreter (statically linked). */
export async function isStaticElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const head = Buffer.alloc(64);
    await fh.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } finally {
    await fh.close();
  }
}

const BUSYBOX_LINKS = ['sh', 'echo', 'cat', 'env', 'id', 'hostname', 'sleep', 'pwd', 'ls', 'uname', 'true', 'false', 'date', 'ps', 'readlink', 'stat', 'grep', 'mount', 'touch', 'mkdir', 'tr'];

async function layerTar(busybox: Buffer | undefined): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((res, rej) => {
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  const mtime = new Date(1_700_000_000_000);
  const dir = (name: string, mode = 0o755): void => {
    pack.entry({ name, type: 'directory', mode, uid: 0, gid: 0, mtime });
  };
  const file = (name: string, content: string | Buffer, mode = 0o644): void => {
    pack.entry({ name, type: 'file', mode, uid: 0, gid: 0, mtime }, content);
  };
  for (const d of ['bin/', 'dev/', 'etc/', 'proc/', 'root/', 'sbin/', 'sys/', 'work/']) dir(d, d === 'root/' ? 0o700 : 0o755);
  dir('tmp/', 0o1777);
  file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  file('etc/group', 'root:x:0:\nnogroup:x:65534:\n');
  file('etc/hostname', 'lxcri-demo\n');
  file('etc/os-release', 'NAME="proxmox-lxcri demo"\nID=lxcri-demo\nPRETTY_NAME="proxmox-lxcri demo image"\n');
  file('work/README', 'This is the working directory of the proxmox-lxcri demo image.\n');
  if (busybox) {
    file('bin/busybox', busybox, 0o755);
    for (const link of BUSYBOX_LINKS) pack.entry({ name: `bin/${link}`, type: 'symlink', linkname: 'busybox', mode: 0o777, uid: 0, gid: 0, mtime });
  }
  if (arch() === 'x64') file('bin/hello', helloElfX8664(), 0o755);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function writeBlob(layout: string, data: Buffer | string): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const path = join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
  await writeFile(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
  return { digest, size: Buffer.byteLength(data) };
}

function ociArch(): string {
  const a = arch();
  return a === 'x64' ? 'amd64' : a;
}

/**
 * Writes the demo image as an OCI image layout in `dir` (created; an existing layout there is
 * replaced). Throws FailedPreconditionError when there is neither a static busybox on the host
 * nor an x86-64 CPU to run `/bin/hello`.
 *
 * @example
 * ```ts
 * import { buildDemoImage } from 'proxmox-lxcri/testing';
 * const image = await buildDemoImage('/tmp/demo-image');
 * // new Lxcri({ images: image.layout }) resolves image.reference
 * ```
 */
export async function buildDemoImage(dir: string, options: BuildDemoImageOptions = {}): Promise<DemoImage> {
  const layout = resolve(dir);
  const busyboxPath = options.busybox === undefined ? '/bin/busybox' : options.busybox;
  const busybox = busyboxPath !== false && (await isStaticElf(busyboxPath)) ? await readFile(busyboxPath) : undefined;
  if (!busybox && arch() !== 'x64') {
    throw new FailedPreconditionError('the demo image needs a statically linked busybox (Debian: apt-get install busybox-static) on this CPU architecture', { arch: arch() });
  }
  const tag = options.tag ?? 'latest';
  await rm(layout, { recursive: true, force: true });
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const tarball = await layerTar(busybox);
  const layer = await writeBlob(layout, gzipSync(tarball, { level: 6 }));
  const cmd = busybox ? ['/bin/sh', '-c', 'echo "hello from a proxmox-lxcri demo container: $(id -un)@$(hostname) in $(pwd)"'] : ['/bin/hello'];
  const config = {
    created: '2023-11-14T22:13:20Z',
    architecture: ociArch(),
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'DEMO=proxmox-lxcri'], Cmd: cmd, WorkingDir: '/work', Labels: { 'org.opencontainers.image.title': 'proxmox-lxcri demo' } },
    rootfs: { type: 'layers', diff_ids: [sha256(tarball)] },
    history: [{ created: '2023-11-14T22:13:20Z', created_by: 'proxmox-lxcri buildDemoImage' }],
  };
  const configBlob = await writeBlob(layout, JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configBlob },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  };
  const manifestBlob = await writeBlob(layout, JSON.stringify(manifest));
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifestBlob,
        platform: { architecture: ociArch(), os: 'linux' },
        annotations: { 'org.opencontainers.image.ref.name': tag, 'io.containerd.image.name': `docker.io/library/lxcri-demo:${tag}` },
      },
    ],
  };
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  return { layout, reference: `lxcri-demo:${tag}`, manifestDigest: manifestBlob.digest, cmd, hasShell: busybox !== undefined };
}
