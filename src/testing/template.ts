/**
 * Reads a CT template the way `pct create` does, without unpacking it to disk:
 *
 * - A PVE 9.1 OCI archive (a `.tar` holding `oci-layout`, `index.json` and `blobs/`,
 *   `archive_is_oci_format`) is recognised, its image config mapped, and its layers read in order
 *   (whiteouts applied) to find the OS.
 * - Anything else goes through `restore_tar_archive`: the name must match `\.tar(\.[^.]+)?$`
 *   with a known compression (`.gz`, `.bz2`, `.xz`, `.zst`, `.lzo`), then the archive is
 *   decompressed (node:zlib for gzip; `bzip2`/`xz`/`zstd` as GNU tar would run them) and parsed.
 *   A broken archive fails like GNU tar does (its stderr lines, then
 *   `command '… tar xpf - …' failed: exit code 2`).
 * - The OS type comes from the contents (pve-container `Setup.pm`): `/etc/os-release` (or
 *   `/usr/lib/os-release`) `ID`, then `/etc/lsb-release`, `/etc/debian_version`,
 *   `/etc/devuan_version`, `/etc/SuSE-brand`, `/etc/fedora-release`, `/etc/centos-release`,
 *   `/etc/redhat-release`, `/etc/arch-release`, `/etc/alpine-release`, `/etc/gentoo-release`.
 * - The architecture comes from the ELF header of `/bin/sh` (`detect_architecture`).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

/** A template that `pct create` would refuse; `log` holds the task log lines PVE prints. */
export class TemplateReadError extends Error {
  override name = 'TemplateReadError';
  constructor(
    message: string,
    readonly log: readonly string[] = [],
    /** Where it failed: the file name, unpacking with tar, or reading the OCI image. */
    readonly stage: 'name' | 'tar' | 'oci' = 'tar',
  ) {
    super(message);
  }
}

/** What create takes from an OCI image config. */
export interface OciImageConfig {
  /** `Entrypoint` + `Cmd`: the first word, then the others in double quotes, unless `/sbin/init` or empty. */
  entrypoint?: string;
  /** `Env` entries (`KEY=value`). */
  env: string[];
  /** Number of layers of the manifest. */
  layers: number;
}

/** What reading a template found. */
export interface TemplateContents {
  /** `oci` for a PVE 9.1 OCI archive, else `rootfs`. */
  format: 'oci' | 'rootfs';
  /** The OCI image config mapping (format `oci`). */
  oci?: OciImageConfig;
  /** The OS type PVE would detect; `undefined` when none ("unable to detect OS distribution"). */
  ostype?: string;
  /** `amd64`, `i386`, `arm64` or `armhf` from `/bin/sh`; `undefined` when it cannot be read. */
  arch?: string;
  /** Why the architecture could not be detected. */
  archError?: string;
  /** Bytes of the (uncompressed) tar stream, as `tar --totals` reports them. */
  bytesRead: number;
}

/** Options of {@link readTemplate}. */
export interface ReadTemplateOptions {
  /** OCI archives are recognised only on 9.1. */
  version: '8.4' | '9.1';
  /** For the tar command line in error messages. */
  vmid: number;
  /** Unprivileged CTs run tar under `lxc-usernsexec`. */
  unprivileged: boolean;
}

interface EntryInfo {
  type: string;
  linkname?: string;
  /** First 20 bytes (regular files): enough for an ELF header. */
  head?: Buffer;
  /** Whole contents of the OS marker files. */
  content?: Buffer;
}
/** Path (no leading `./` or `/`) → entry, or `null` for a whiteout. */
type Tree = Map<string, EntryInfo | null>;

const CONTENT_FILES = new Set(['etc/os-release', 'usr/lib/os-release', 'etc/lsb-release']);
const COMPRESSION: Record<string, { flag: string; tool?: string }> = {
  '.gz': { flag: '-z' },
  '.bz2': { flag: '-j', tool: 'bzip2' },
  '.xz': { flag: '-J', tool: 'xz' },
  '.zst': { flag: '--zstd', tool: 'zstd' },
  '.lzo': { flag: '--lzop', tool: 'lzop' },
};
const PLUGINS = new Set(['debian', 'devuan', 'ubuntu', 'centos', 'fedora', 'opensuse', 'archlinux', 'alpine', 'gentoo', 'nixos', 'openeuler']);
const ALIASES: Record<string, string> = { arch: 'archlinux', sles: 'opensuse', 'opensuse-leap': 'opensuse', 'opensuse-tumbleweed': 'opensuse' };
const MARKERS: readonly [string[], string][] = [
  [['etc/debian_version'], 'debian'],
  [['etc/devuan_version'], 'devuan'],
  [['etc/SuSE-brand', 'etc/SuSE-release'], 'opensuse'],
  [['etc/fedora-release'], 'fedora'],
  [['etc/centos-release', 'etc/redhat-release'], 'centos'],
  [['etc/arch-release'], 'archlinux'],
  [['etc/alpine-release'], 'alpine'],
  [['etc/gentoo-release'], 'gentoo'],
];
const ELF_MACHINES: Record<number, string> = { 0x03: 'i386', 0x3e: 'amd64', 0x28: 'armhf', 0xb7: 'arm64' };

/** Key of an opaque-directory marker in a layer tree. */
const OPAQUE = '\0opaque';

const normalise = (name: string): string => name.replace(/^(?:\.\/|\/)+/, '').replace(/\/+$/, '');

/** GNU tar's command line as pve-container runs it (for the task's error line). */
function tarCommand(options: ReadTemplateOptions, compression: string[]): string {
  const userns = options.unprivileged ? ['lxc-usernsexec', '-m', 'u:0:100000:65536', '-m', 'g:0:100000:65536', '--'] : [];
  return [
    ...userns,
    'tar', 'xpf', '-', ...compression, '--totals', '--one-file-system', '-p', '--sparse', '--numeric-owner', '--acls', '--xattrs',
    "'--xattrs-include=user.*'", "'--xattrs-include=security.capability'", "'--warning=no-file-ignored'", "'--warning=no-xattr-write'",
    '-C', `/var/lib/lxc/${options.vmid}/rootfs`, '--skip-old-files', '--anchored', '--exclude', "'./dev/*'",
  ].join(' ');
}

/** Decompresses with an external tool (as GNU tar does); its stderr lines become the log. */
function externalDecompress(tool: string, input: Readable, stderr: string[], status: { failed: boolean } = { failed: false }): Readable {
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let failed = false;
  const fail = (error: Error): void => {
    if (failed || out.destroyed) return;
    failed = true;
    status.failed = true;
    out.destroy(error);
  };
  child.on('error', (error: NodeJS.ErrnoException) => {
    stderr.push(error.code === 'ENOENT' ? `tar (child): ${tool}: Cannot exec: No such file or directory` : `tar (child): ${tool}: ${error.message}`);
    fail(new Error(`${tool} failed`));
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => stderr.push(...text.split('\n').filter((l) => l.trim() !== '')));
  input.on('error', (error) => fail(error));
  input.pipe(child.stdin).on('error', () => undefined);
  child.stdout.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else fail(new Error(`${tool} exited with ${String(code)}`));
  });
  // a reader that gave up (broken tar) must not leave the decompressor blocked on a full pipe
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  return out;
}

/** Reads a tar stream into a tree (metadata, ELF heads, OS marker contents). */
async function readTar(stream: Readable, counter: { bytes: number }, layer = false): Promise<Tree> {
  const tree: Tree = new Map();
  const extract = tar.extract();
  extract.on('entry', (header, entry, next) => {
    const name = normalise(header.name);
    const base = name.split('/').pop() ?? '';
    const dir = name.slice(0, name.length - base.length);
    const whiteout = layer && base.startsWith('.wh.');
    // an OCI layer's whiteouts: `.wh.<name>` hides a lower path, `.wh..wh..opq` the whole directory
    if (whiteout) tree.set(base === '.wh..wh..opq' ? `${dir}${OPAQUE}` : dir + base.slice(4), null);
    const info: EntryInfo = { type: header.type ?? 'file', ...(header.linkname ? { linkname: header.linkname } : {}) };
    const chunks: Buffer[] = [];
    let kept = 0;
    const keepAll = CONTENT_FILES.has(name) && (header.size ?? 0) <= 1 << 20;
    entry.on('data', (data: unknown) => {
      const chunk = data as Buffer;
      if (keepAll || kept < 20) {
        chunks.push(chunk);
        kept += chunk.length;
      }
    });
    entry.on('end', () => {
      if (info.type === 'file' || info.type === 'contiguous-file') {
        const data = Buffer.concat(chunks);
        info.head = data.subarray(0, 20);
        if (keepAll) info.content = data;
      }
      if (!whiteout) tree.set(name, info);
      next();
    });
    entry.resume();
  });
  const counting = new PassThrough();
  counting.on('data', (chunk: Buffer) => {
    counter.bytes += chunk.length;
  });
  await pipeline(stream, counting, extract as unknown as Writable);
  return tree;
}

/** GNU tar's stderr for what tar-stream reported. */
function tarErrorLines(error: unknown, decompressorFailed: boolean): string[] {
  const text = error instanceof Error ? error.message : String(error);
  if (decompressorFailed) return ['tar: Child returned status 1', 'tar: Error is not recoverable: exiting now'];
  if (/unexpected end|premature|truncated/i.test(text)) return ['tar: Unexpected EOF in archive', 'tar: Error is not recoverable: exiting now'];
  return ['tar: This does not look like a tar archive', 'tar: Skipping to next header', 'tar: Exiting with failure status due to previous errors'];
}

/** Resolves a path inside the tree through symlinks and hard links (at most 16 hops). */
function resolve(tree: Tree, path: string): EntryInfo | undefined {
  let parts = normalise(path).split('/');
  for (let hops = 0, i = 0; i < parts.length && hops < 16; ) {
    const prefix = parts.slice(0, i + 1).join('/');
    const entry = tree.get(prefix);
    if (!entry) {
      // tars need not list parent directories: a missing one is implicit
      if (i < parts.length - 1 && tree.get(prefix) !== null) {
        i++;
        continue;
      }
      return undefined;
    }
    if (entry.type === 'symlink' && entry.linkname !== undefined) {
      hops++;
      const target = entry.linkname.startsWith('/') ? entry.linkname : [...parts.slice(0, i), entry.linkname].join('/');
      const rest = parts.slice(i + 1);
      const out: string[] = [];
      for (const p of [...normalise(target).split('/'), ...rest]) {
        if (p === '' || p === '.') continue;
        if (p === '..') out.pop();
        else out.push(p);
      }
      parts = out;
      i = 0;
      continue;
    }
    if (entry.type === 'link' && entry.linkname !== undefined && i === parts.length - 1) return tree.get(normalise(entry.linkname)) ?? undefined;
    if (i === parts.length - 1) return entry;
    i++;
  }
  return undefined;
}

/** os-release parsing as pve-container does it: `KEY=value`, `'…'` or `"…"` (with escapes). */
function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    const [, key = '', raw = ''] = m;
    const single = /^'([^']*)'/.exec(raw);
    const double = /^"((?:[^"\\]|\\.)*)"/.exec(raw);
    if (single) out[key] = single[1] ?? '';
    else if (double) out[key] = (double[1] ?? '').replace(/\\(["'`$\\])/g, '$1');
    else out[key] = /^([A-Za-z0-9]*)/.exec(raw)?.[1] ?? '';
  }
  return out;
}

/** `Setup.pm`'s autodetection. */
function detectOsType(tree: Tree): string | undefined {
  const release = resolve(tree, 'etc/os-release') ?? resolve(tree, 'usr/lib/os-release');
  const id = release?.content ? parseOsRelease(release.content.toString('utf8'))['ID'] : undefined;
  if (id && PLUGINS.has(id)) return id;
  if (id && ALIASES[id]) return ALIASES[id];
  const lsb = resolve(tree, 'etc/lsb-release');
  if (lsb?.content && /^DISTRIB_ID=Ubuntu$/im.test(lsb.content.toString('utf8'))) return 'ubuntu';
  for (const [files, os] of MARKERS) if (files.some((f) => resolve(tree, f)?.type === 'file')) return os;
  if (resolve(tree, 'etc/nixos')) return 'nixos';
  return undefined;
}

function detectArch(tree: Tree): { arch?: string; error?: string } {
  const sh = resolve(tree, 'bin/sh');
  if (!sh?.head) return { error: "open '/bin/sh' failed: No such file or directory" };
  const head = sh.head;
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return { error: "'/bin/sh' does not resolve to an ELF!" };
  const machine = head.readUInt16LE(18);
  const arch = ELF_MACHINES[machine];
  return arch ? { arch } : { error: `'/bin/sh' has unknown ELF machine '${machine}'!` };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

interface OuterListing {
  small: Map<string, Buffer>;
  names: Set<string>;
}

/** Lists a plain tar, keeping small files (the layout's JSON) in memory. Throws on a broken tar. */
async function listOuter(path: string): Promise<OuterListing> {
  const small = new Map<string, Buffer>();
  const names = new Set<string>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = normalise(header.name);
    names.add(name);
    const keep = header.type === 'file' && (header.size ?? 0) <= 4 << 20 && !name.startsWith('blobs/');
    const isJsonBlob = header.type === 'file' && name.startsWith('blobs/') && (header.size ?? 0) <= 1 << 20;
    const chunks: Buffer[] = [];
    stream.on('data', (data: unknown) => {
      const c = data as Buffer;
      if (keep || isJsonBlob) chunks.push(c);
    });
    stream.on('end', () => {
      if (keep || isJsonBlob) small.set(name, Buffer.concat(chunks));
      next();
    });
    stream.resume();
  });
  await pipeline(createReadStream(path), extract as unknown as Writable);
  return { small, names };
}

function isOciLayout(listing: OuterListing): boolean {
  return listing.names.has('oci-layout') && listing.names.has('index.json') && [...listing.names].some((n) => n === 'blobs' || n.startsWith('blobs/'));
}

/** Reads the OCI image of an archive: config mapping and the merged layer tree. */
async function readOci(path: string, listing: OuterListing, counter: { bytes: number }): Promise<{ config: OciImageConfig; tree: Tree }> {
  const fail = (detail: string): TemplateReadError => new TemplateReadError(`failed to parse OCI image - ${detail}`, [], 'oci');
  const json = (name: string): Record<string, unknown> => {
    const data = listing.small.get(name);
    if (!data) throw fail(`missing ${name}`);
    try {
      const parsed = record(JSON.parse(data.toString('utf8')));
      if (!parsed) throw new Error('not an object');
      return parsed;
    } catch (error) {
      throw fail(`invalid JSON in ${name}: ${(error as Error).message}`);
    }
  };
  const blobName = (descriptor: unknown): string => {
    const digest = record(descriptor)?.['digest'];
    const m = typeof digest === 'string' ? /^([a-z0-9]+):([a-f0-9]+)$/.exec(digest) : null;
    if (!m) throw fail(`invalid descriptor digest ${JSON.stringify(digest)}`);
    return `blobs/${m[1] ?? ''}/${m[2] ?? ''}`;
  };
  const index = json('index.json');
  const manifests = Array.isArray(index['manifests']) ? (index['manifests'] as unknown[]) : [];
  if (manifests.length === 0) throw fail('index.json lists no manifest');
  const manifest = json(blobName(manifests[0]));
  const configBlob = json(blobName(manifest['config']))['config'];
  const config = record(configBlob) ?? {};
  const layers = Array.isArray(manifest['layers']) ? (manifest['layers'] as unknown[]) : [];
  const layerNames = layers.map(blobName);
  for (const name of layerNames) if (!listing.names.has(name)) throw fail(`missing layer blob ${name}`);
  const [first, ...rest] = [...strings(config['Entrypoint']), ...strings(config['Cmd'])];
  const command = first === undefined ? '' : [first, ...rest.map((arg) => `"${arg}"`)].join(' ');

  // second pass: every layer blob through its decompressor into its own tree, merged in order
  const perLayer = new Map<string, Tree>();
  const mediaTypes = new Map(layerNames.map((n, i) => [n, String(record(layers[i])?.['mediaType'] ?? '')]));
  const extract = tar.extract();
  let layerError: unknown;
  extract.on('entry', (header, stream, next) => {
    const name = normalise(header.name);
    if (!mediaTypes.has(name) || perLayer.has(name)) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    const mediaType = mediaTypes.get(name) ?? '';
    const stderr: string[] = [];
    const head = new PassThrough();
    stream.pipe(head);
    const decoded = /zstd/.test(mediaType) ? externalDecompress('zstd', head, stderr) : /gzip/.test(mediaType) ? head.pipe(createGunzip()) : head;
    readTar(decoded, counter, true).then(
      (tree) => {
        perLayer.set(name, tree);
        next();
      },
      (error: unknown) => {
        layerError = fail(`layer ${name}: ${stderr.join('; ') || (error as Error).message}`);
        stream.resume();
        next();
      },
    );
  });
  await pipeline(createReadStream(path), extract as unknown as Writable);
  if (layerError) throw layerError;
  const tree: Tree = new Map();
  for (const name of layerNames) {
    const layerTree = perLayer.get(name) ?? new Map<string, EntryInfo | null>();
    // whiteouts hide lower layers first, then the layer's own entries land
    for (const [key, value] of layerTree) {
      if (value !== null) continue;
      if (key.endsWith(OPAQUE)) {
        const dir = key.slice(0, -OPAQUE.length); // `a/b/`, or '' for the root
        for (const existing of [...tree.keys()]) if (existing.startsWith(dir) && existing !== dir.replace(/\/$/, '')) tree.delete(existing);
      } else {
        for (const existing of [...tree.keys()]) if (existing === key || existing.startsWith(`${key}/`)) tree.delete(existing);
      }
    }
    for (const [key, value] of layerTree) if (value !== null) tree.set(key, value);
  }
  return {
    config: { ...(command !== '' && command !== '/sbin/init' ? { entrypoint: command } : {}), env: strings(config['Env']), layers: layers.length },
    tree,
  };
}

/**
 * Reads a template as `pct create` would.
 * @throws {@link TemplateReadError} with PVE's message and task-log lines when PVE would fail.
 */
export async function readTemplate(path: string, options: ReadTemplateOptions): Promise<TemplateContents> {
  const counter = { bytes: 0 };
  const m = /\.tar(\.[^.]+)?$/.exec(path);
  if (!m) throw new TemplateReadError(`file does not look like a template archive: ${path}`, [], 'name');
  const ext = m[1];
  if (ext === undefined && options.version === '9.1') {
    let listing: OuterListing | undefined;
    try {
      listing = await listOuter(path);
    } catch {
      listing = undefined; // not a tar: restore_tar_archive below reports it as tar would
    }
    if (listing && isOciLayout(listing)) {
      const { config, tree } = await readOci(path, listing, counter);
      const ostype = detectOsType(tree);
      const arch = detectArch(tree);
      return { format: 'oci', oci: config, ...(ostype ? { ostype } : {}), ...(arch.arch ? { arch: arch.arch } : { archError: arch.error ?? '' }), bytesRead: counter.bytes };
    }
  }
  const compression = ext === undefined ? undefined : COMPRESSION[ext];
  if (ext !== undefined && !compression) throw new TemplateReadError(`unrecognized compression format: ${ext}`, [], 'name');
  const stderr: string[] = [];
  const decompressor = { failed: false };
  const file = createReadStream(path);
  let input: Readable = file;
  if (compression?.tool) {
    input = externalDecompress(compression.tool, file, stderr, decompressor);
  } else if (compression) {
    const gunzip = createGunzip();
    gunzip.on('error', (error: NodeJS.ErrnoException) => {
      decompressor.failed = true;
      stderr.push(error.code === 'Z_BUF_ERROR' ? 'gzip: stdin: unexpected end of file' : 'gzip: stdin: not in gzip format');
    });
    input = file.pipe(gunzip);
  }
  let tree: Tree;
  try {
    tree = await readTar(input, counter);
  } catch (error) {
    file.destroy();
    const log = [...(decompressor.failed ? stderr : []), ...tarErrorLines(error, decompressor.failed)];
    throw new TemplateReadError(`command '${tarCommand(options, compression ? [compression.flag] : [])}' failed: exit code 2`, log);
  }
  const ostype = detectOsType(tree);
  const arch = detectArch(tree);
  return { format: 'rootfs', ...(ostype ? { ostype } : {}), ...(arch.arch ? { arch: arch.arch } : { archError: arch.error ?? '' }), bytesRead: counter.bytes };
}
