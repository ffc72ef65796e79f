/**
 * Applies the entries of one layer to a directory, safely.
 *
 * Safety model (notes §5.5):
 * - entry names are cleaned lexically and re-rooted (`/etc/x` → `etc/x`, `../../x` → `x`);
 * - the parent directory of every entry is resolved **inside the root** component by component
 *   with `lstat`, following symlinks only as if the root were `/` (securejoin semantics: an
 *   absolute or `..`-escaping link target is clamped to the root); the final component is never
 *   followed: files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` (in apply mode files and
 *   symlinks are created first, and only an `EEXIST` makes the path be looked at), an existing
 *   non-directory is unlinked before anything is put in its place, and file metadata is applied
 *   through the open descriptor (skipped where creation already gave the header's mode/owner);
 * - hardlink targets are resolved the same way, must exist and must not be directories;
 * - the root entry may only be a directory; whiteouts must name a child (`.wh.`, `.wh..`,
 *   `.wh...` are rejected) and only remove content of lower layers;
 * - device nodes are created only as root (rootless: an empty regular file, like umoci);
 *   setuid/setgid bits only when allowed; dangerous xattrs are dropped.
 * All filesystem calls in the hot path are synchronous (no thread-pool round trip per call); the
 * caller feeds chunks from an async decompressor, so decompression overlaps with writing and the
 * event loop is released between chunks.
 *
 * Not defended (as with umoci): another process modifying the root while a layer is applied.
 *
 * @module
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  readdirSync,
  readFileSync,
  statfsSync,
  chmodSync,
  copyFileSync,
  type Stats,
} from 'node:fs';
import { LayerExtractionError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ResolvedExtractionLimits } from './limits.js';
import type { TarEntryHeader, TarHandler } from '../image/tar-reader.js';
import { makeNodes, type NodeToMake } from './mknod.js';
import { encodeRootlessOwner, readXattrs, removeXattr, writeXattrs, type PendingXattr } from './xattr.js';

/** How whiteouts are treated. */
export type WhiteoutMode =
  /** remove the whited-out lower content from the root (a merged, umoci-style rootfs) */
  | 'apply'
  /** record them (and, as root, write overlayfs whiteouts: char 0:0 nodes, `trusted.overlay.opaque=y`) */
  | 'overlay';

/** What a path is in the layers below (for per-layer extraction into the layer cache). */
export type LowerEntry = { kind: 'dir' | 'other'; abs: string } | { kind: 'symlink'; abs: string; target: string } | { kind: 'file'; abs: string; stat: Stats };

/** Read-only view of the merged lower layers: `lookup(rel)` for a real (symlink-free) path. */
export interface LowerView {
  lookup(rel: string): LowerEntry | undefined;
}

/** Options of a {@link LayerApplier}. */
export interface LayerApplierOptions {
  /** Absolute path of the directory to apply to (must exist). */
  root: string;
  /** Do not chown; keep the owner in `user.rootlesscontainers`; device nodes become empty files. */
  rootless: boolean;
  whiteouts: WhiteoutMode;
  /** Keep setuid/setgid bits and file capabilities (`security.capability`). */
  allowSetuid: boolean;
  limits: ResolvedExtractionLimits;
  logger: Logger;
  /** Name of the layer for errors (its digest). */
  layer: string;
  /**
   * The layers below, when a layer is extracted on its own (layer cache): parent symlinks that
   * exist only below are followed, and hardlinks to files below are copied up first.
   */
  lower?: LowerView | undefined;
  /**
   * Whether `root` may already carry extended attributes from earlier layers. When it cannot,
   * directories this layer sets again have none to remove, and `getfattr` is never run.
   * @defaultValue true
   */
  existingXattrs?: boolean | undefined;
  /**
   * Overlay mode as root: mark opaque directories with `trusted.overlay.opaque=y` (needs
   * `setfattr`). When false they are only listed in the record (a copy can still apply them).
   * @defaultValue true
   */
  opaqueMarkers?: boolean | undefined;
}

/** What a layer left that the overlay/copy consumer needs to know (whiteouts mode `overlay`). */
export interface LayerRecord {
  /** Paths (relative) whited out by this layer. */
  whiteouts: string[];
  /** Directories (relative) made opaque by this layer. */
  opaques: string[];
  /** Directories (relative) created only because an entry needed a parent. */
  implicitDirs: string[];
  /** Whether any xattr was written. */
  hasXattrs: boolean;
  /** Whether the layer had an entry for its root directory (`./`). */
  hasRootEntry: boolean;
}

const FORBIDDEN_XATTRS = new Set(['security.selinux', 'system.nfs4_acl']);

/** Splits a tar name into clean components (re-rooted, `..` clamped at the root). */
function cleanEntryPath(name: string): string[] {
  const out: string[] = [];
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out;
}

interface DeferredDir {
  abs: string;
  rel: string;
  ino: number;
  mode: number;
  mtime: number;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Filesystems (statfs magic) whose new files take the creator's fsuid and the parent's group or
 * the creator's fsgid, as POSIX says: ext2/3/4, XFS, Btrfs, tmpfs, ZFS. Elsewhere (NFS with
 * squashing, FUSE, vfat, ...) the owner is always set explicitly.
 */
const PLAIN_OWNER_FILESYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x2fc12fc1]);

/** The process umask, from /proc/self/status (`process.umask()` without an argument is deprecated); undefined when unknown. */
function readUmask(): number | undefined {
  try {
    const m = /^Umask:\s*([0-7]+)\s*$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m?.[1] === undefined ? undefined : Number.parseInt(m[1], 8);
  } catch {
    return undefined;
  }
}

/**
 * Applies one layer's entries (fed by a {@link TarParser}) to a directory. Call
 * {@link LayerApplier.finish} after the archive ended.
 */
export class LayerApplier implements TarHandler {
  readonly #o: LayerApplierOptions;
  readonly #root: string;
  /** real relative dir path → verified to be a real directory */
  #realDirs = new Set<string>();
  /** unresolved parent key → resolved { abs, rel } */
  #dirCache = new Map<string, { abs: string; rel: string }>();
  /** real relative paths written by this layer, and their ancestors */
  readonly #upper = new Set<string>(['']);
  /** real relative path → metadata applied at the end (the last entry of a directory wins) */
  readonly #deferred = new Map<string, DeferredDir>();
  #xattrs: PendingXattr[] = [];
  #fd: number | undefined;
  #fdPath = '';
  #fdHeader: TarEntryHeader | undefined;
  /** the open file already has its final mode (created with it) / its final owner (created so) */
  #fdModeSet = false;
  #fdOwnerSet = false;
  /** the umask at the start of the layer (undefined: unknown, every file gets fchmod) */
  readonly #umask: number | undefined;
  /** who owns a new file here: [euid, egid] when the filesystem follows the plain rules, else undefined */
  readonly #creator: readonly [number, number] | undefined;
  /** directories of lower layers whose metadata this layer sets again (their xattrs are replaced) */
  #respecified: string[] = [];
  /** directories that had their own entry in this layer */
  #explicitDirs = new Set<string>();
  /** overlay mode: paths whited out / directories made opaque by this layer (they hide the lower view) */
  #whited = new Set<string>();
  #opaqueDirs = new Set<string>();
  /** paths where a symlink of the lower view was followed (an entry placed there must drop the caches) */
  #lowerLinks = new Set<string>();
  /** lower-layer directories whose content this layer changed: their times are restored (umoci) */
  #touchedParents = new Map<string, { abs: string; ino: number; atime: number; mtime: number; gid: number }>();
  /**
   * Device nodes, FIFOs and overlay whiteouts not made yet: a run of them in one directory is made
   * by one child process (`mknod.ts`). Any entry elsewhere, a hardlink, an opaque whiteout or an
   * entry for one of their names makes them first, and so does the end of the layer.
   */
  #nodes: { node: NodeToMake; entry: string; header: TarEntryHeader | undefined }[] = [];
  /** The directory of the queued nodes, as entries name it (clean components joined), and their names there. */
  #nodesDir = '';
  readonly #nodeNames = new Set<string>();
  readonly record: LayerRecord = { whiteouts: [], opaques: [], implicitDirs: [], hasXattrs: false, hasRootEntry: false };
  /** Entries applied. */
  entries = 0;
  /** File content bytes written. */
  bytes = 0;
  readonly #asRoot: boolean;

  constructor(options: LayerApplierOptions) {
    this.#o = options;
    this.#root = options.root.replace(/\/+$/, '') || '/';
    this.#asRoot = isRoot();
    this.#umask = readUmask();
    let plain = false;
    try {
      plain = PLAIN_OWNER_FILESYSTEMS.has(statfsSync(this.#root).type);
    } catch {
      // unknown: owners are always set
    }
    const euid = process.geteuid?.();
    const egid = process.getegid?.();
    this.#creator = plain && euid !== undefined && egid !== undefined ? [euid, egid] : undefined;
  }

  #fail(message: string, entry: string | undefined, reason: string, cause?: unknown): never {
    throw new LayerExtractionError(message, { layer: this.#o.layer, ...(entry === undefined ? {} : { entry: entry.slice(0, 500) }), reason }, cause === undefined ? {} : { cause });
  }

  #abs(rel: string): string {
    return rel === '' ? this.#root : `${this.#root}/${rel}`;
  }

  #invalidate(rel: string): void {
    this.#dirCache.clear();
    this.#realDirs.clear();
    const prefix = `${rel}/`;
    for (const key of [...this.#deferred.keys()]) if (key === rel || key.startsWith(prefix)) this.#deferred.delete(key);
    const absPrefix = `${this.#abs(rel)}/`;
    const abs = this.#abs(rel);
    this.#xattrs = this.#xattrs.filter((x) => x.path !== abs && !x.path.startsWith(absPrefix));
    this.#respecified = this.#respecified.filter((p) => p !== abs && !p.startsWith(absPrefix));
    for (const key of [...this.#touchedParents.keys()]) if (key === rel || key.startsWith(prefix)) this.#touchedParents.delete(key);
    // a removed directory is no implicit directory any more (its path may now be a symlink)
    this.record.implicitDirs = this.record.implicitDirs.filter((d) => d !== rel && !d.startsWith(prefix));
  }

  /**
   * Resolves a directory (given as clean components) inside the root, following symlinks as if
   * the root were `/`. With `create`, missing directories are made (and non-directories in the
   * way replaced); without, `undefined` is returned when a component is missing.
   */
  resolveDir(components: readonly string[], create: boolean | 'lower', entry: string): { abs: string; rel: string } | undefined {
    const key = components.join('/');
    const cached = this.#dirCache.get(key);
    if (cached) return cached;
    let real: string[] = [];
    const queue = [...components].reverse();
    let links = 0;
    while (queue.length > 0) {
      const c = queue.pop() as string;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        real.pop();
        continue;
      }
      real.push(c);
      const rel = real.join('/');
      if (this.#realDirs.has(rel)) continue;
      const abs = this.#abs(rel);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined) {
        const below = this.#below(rel);
        if (below?.kind === 'symlink') {
          if (++links > 255) this.#fail('too many levels of symbolic links while resolving a parent directory', entry, 'symlink loop');
          this.#lowerLinks.add(rel);
          real.pop();
          if (below.target.startsWith('/')) real = [];
          const parts = below.target.split('/');
          for (let i = parts.length - 1; i >= 0; i--) queue.push(parts[i] as string);
          continue;
        }
        if (create === false || (create === 'lower' && below?.kind !== 'dir')) return undefined;
        mkdirSync(abs, 0o755);
        this.#unwhite(abs, rel, true);
        this.#realDirs.add(rel);
        this.record.implicitDirs.push(rel);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++links > 255) this.#fail('too many levels of symbolic links while resolving a parent directory', entry, 'symlink loop');
        const target = readlinkSync(abs);
        real.pop();
        if (target.startsWith('/')) real = [];
        const parts = target.split('/');
        for (let i = parts.length - 1; i >= 0; i--) queue.push(parts[i] as string);
        continue;
      }
      if (st.isDirectory()) {
        this.#realDirs.add(rel);
        continue;
      }
      if (create !== true) return undefined;
      unlinkSync(abs);
      this.#invalidate(rel);
      mkdirSync(abs, 0o755);
      this.#unwhite(abs, rel, true);
      this.#realDirs.add(rel);
      this.record.implicitDirs.push(rel);
    }
    const rel = real.join('/');
    const result = { abs: this.#abs(rel), rel };
    this.#dirCache.set(key, result);
    return result;
  }

  /** What the lower view has at `rel`, unless this layer hid it (whiteout or opaque ancestor). */
  #below(rel: string): LowerEntry | undefined {
    const lower = this.#o.lower;
    if (lower === undefined) return undefined;
    if (this.#whited.size > 0 || this.#opaqueDirs.size > 0) {
      for (let r = rel; ; ) {
        if (this.#whited.has(r) || (r !== rel && this.#opaqueDirs.has(r))) return undefined;
        if (r === '') break;
        const slash = r.lastIndexOf('/');
        r = slash === -1 ? '' : r.slice(0, slash);
      }
    }
    return lower.lookup(rel);
  }

  /**
   * Something is placed at `rel` in the upper dir. A lower symlink followed there before no
   * longer applies (drop the caches); a whiteout of this layer there is undone, and a directory
   * that replaces a whiteout must hide the lower content (opaque), as the merged tree does.
   */
  #unwhite(abs: string, rel: string, isDir: boolean): void {
    if (this.#lowerLinks.delete(rel)) this.#invalidate(rel);
    if (!this.#whited.delete(rel)) return;
    this.record.whiteouts = this.record.whiteouts.filter((w) => w !== rel);
    if (isDir) this.#markOpaque(abs, rel);
  }

  #markUpper(rel: string): void {
    let r = rel;
    while (!this.#upper.has(r)) {
      this.#upper.add(r);
      const slash = r.lastIndexOf('/');
      r = slash === -1 ? '' : r.slice(0, slash);
    }
  }

  #checkName(name: string, what: string): void {
    if (Buffer.byteLength(name) > this.#o.limits.maxPathBytes) this.#fail(`${what} is longer than ${this.#o.limits.maxPathBytes} bytes`, name, 'limit exceeded');
    if (name.includes('\0')) this.#fail(`${what} contains a NUL byte`, name, 'invalid name');
  }

  /** Remembers the times of an existing directory before this layer changes its content. */
  #touch(parent: { abs: string; rel: string }): void {
    if (this.#touchedParents.has(parent.rel)) return;
    const st = lstatSync(parent.abs, { throwIfNoEntry: false });
    if (st?.isDirectory()) this.#touchedParents.set(parent.rel, { abs: parent.abs, ino: st.ino, atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000, gid: st.gid });
  }

  /**
   * Whether an entry created now in `parentRel` already gets the header's owner, so the chown can
   * be skipped: the creator's uid, and a group that is the creator's gid both by the plain rule
   * and by the setgid-directory rule (the parent's group is that gid too), so it holds either way.
   */
  #ownedOnCreate(parentRel: string, h: TarEntryHeader): boolean {
    const c = this.#creator;
    if (c === undefined || this.#o.rootless || h.uid !== c[0] || h.gid !== c[1]) return false;
    return this.#touchedParents.get(parentRel)?.gid === c[1];
  }

  entry(h: TarEntryHeader): void {
    this.entries++;
    if (this.entries > this.#o.limits.maxEntries) this.#fail(`layer has more than ${this.#o.limits.maxEntries} entries`, h.name, 'limit exceeded');
    this.#checkName(h.name, 'entry name');
    const components = cleanEntryPath(h.name);
    if (components.length > this.#o.limits.maxPathDepth) this.#fail(`entry path is deeper than ${this.#o.limits.maxPathDepth} components`, h.name, 'limit exceeded');
    for (const c of components) if (Buffer.byteLength(c) > 255) this.#fail('entry name component is longer than 255 bytes', h.name, 'invalid name');
    if (this.#nodes.length > 0 && !this.#besideNodes(components, h)) this.#makeNodes();

    if (components.length === 0) {
      if (h.type !== 'dir') this.#fail(`malicious tar entry: refusing to change the type of the root directory to ${h.type}`, h.name, 'root type change');
      this.record.hasRootEntry = true;
      this.#applyDirMeta(this.#root, '', h);
      return;
    }
    const base = components[components.length - 1] as string;
    const parentComponents = components.slice(0, -1);
    if (base.startsWith('.wh.')) {
      this.#whiteout(parentComponents, base, h);
      return;
    }
    const parent = this.resolveDir(parentComponents, true, h.name) as { abs: string; rel: string };
    this.#touch(parent);
    const rel = parent.rel === '' ? base : `${parent.rel}/${base}`;
    const abs = `${parent.abs}/${base}`;
    const owned = (h.type === 'file' || h.type === 'symlink') && this.#ownedOnCreate(parent.rel, h);

    if (this.#o.whiteouts === 'apply' && (h.type === 'file' || h.type === 'symlink') && this.#createNew(abs, rel, h, owned)) return;
    const existing = lstatSync(abs, { throwIfNoEntry: false });
    if (existing !== undefined && !(existing.isDirectory() && h.type === 'dir')) {
      this.#remove(abs, rel, existing);
    }
    this.#markUpper(rel);
    if (this.#o.whiteouts === 'overlay' && (existing === undefined || !existing.isDirectory())) {
      if (h.type === 'dir') {
        // the opaque marker (if any) needs the directory first
        mkdirSync(abs, 0o700);
        this.#unwhite(abs, rel, true);
      } else this.#unwhite(abs, rel, false);
    }

    switch (h.type) {
      case 'dir':
        this.#explicitDirs.add(rel);
        if (existing === undefined || !existing.isDirectory()) {
          if (this.#o.whiteouts !== 'overlay') mkdirSync(abs, 0o700);
        } else this.#respecified.push(abs);
        this.#applyDirMeta(abs, rel, h);
        break;
      case 'file':
        this.#startFile(this.#openNew(abs, h, false) as number, abs, h, owned);
        break;
      case 'symlink':
        this.#checkName(h.linkname, 'symlink target');
        symlinkSync(h.linkname, abs);
        this.#symlinkMeta(abs, h, owned);
        break;
      case 'link':
        this.#hardlink(abs, h);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        this.#special(abs, h, parentComponents);
        break;
    }
  }

  /**
   * Apply mode, a file or a symlink: created at once, without looking first. `O_CREAT|O_EXCL`
   * and symlink(2) fail on whatever is at the path (a dangling symlink too), and only then is the
   * path looked at and cleared the usual way. False when something was there.
   */
  #createNew(abs: string, rel: string, h: TarEntryHeader, owned: boolean): boolean {
    if (h.type === 'file') {
      const fd = this.#openNew(abs, h, true);
      if (fd === undefined) return false;
      this.#markUpper(rel);
      this.#startFile(fd, abs, h, owned);
      return true;
    }
    this.#checkName(h.linkname, 'symlink target');
    try {
      symlinkSync(h.linkname, abs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    this.#markUpper(rel);
    this.#symlinkMeta(abs, h, owned);
    return true;
  }

  /**
   * Creates a regular file that must not exist (never through a symlink); `undefined` on EEXIST
   * when `mayExist`. A mode without setuid/setgid/sticky bits that the umask leaves alone is given
   * at creation (no fchmod later); otherwise the file starts as 0600 and gets its mode after the
   * chown (which would clear setuid/setgid bits).
   */
  #openNew(abs: string, h: TarEntryHeader, mayExist: boolean): number | undefined {
    const mode = this.#mode(h.mode);
    const exact = this.#umask !== undefined && (mode & 0o7000) === 0 && (mode & this.#umask) === 0;
    try {
      const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, exact ? mode : 0o600);
      this.#fdModeSet = exact;
      return fd;
    } catch (error) {
      if (mayExist && (error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      this.#fail(`cannot create file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, h.name, 'io', error);
    }
  }

  #startFile(fd: number, abs: string, h: TarEntryHeader, owned: boolean): void {
    this.#fd = fd;
    this.#fdPath = abs;
    this.#fdHeader = h;
    this.#fdOwnerSet = owned;
    if (h.size === 0) this.#closeFile();
  }

  #symlinkMeta(abs: string, h: TarEntryHeader, owned: boolean): void {
    if (this.#o.rootless) this.#rootlessOwner(abs, h);
    else if (!owned) lchownSync(abs, h.uid, h.gid);
    this.#queueXattrs(abs, h);
    lutimesSync(abs, h.mtime, h.mtime);
  }

  data(chunk: Buffer): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    let offset = 0;
    while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
    this.bytes += chunk.length;
  }

  end(): void {
    if (this.#fd !== undefined) this.#closeFile();
  }

  #closeFile(): void {
    const fd = this.#fd as number;
    const h = this.#fdHeader as TarEntryHeader;
    this.#fd = undefined;
    try {
      if (this.#o.rootless) this.#rootlessOwner(this.#fdPath, h);
      else if (!this.#fdOwnerSet) fchownSync(fd, h.uid, h.gid);
      if (!this.#fdModeSet) fchmodSync(fd, this.#mode(h.mode));
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
    this.#queueXattrs(this.#fdPath, h);
  }

  #mode(mode: number): number {
    return this.#o.allowSetuid ? mode & 0o7777 : mode & 0o1777;
  }

  #rootlessOwner(abs: string, h: TarEntryHeader): void {
    const value = encodeRootlessOwner(h.uid, h.gid);
    if (value) this.#xattrs.push({ path: abs, name: 'user.rootlesscontainers', value });
  }

  #queueXattrs(abs: string, h: TarEntryHeader): void {
    for (const [name, value] of h.xattrs) {
      if (FORBIDDEN_XATTRS.has(name) || name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
        this.#o.logger.warn({ entry: h.name, xattr: name, layer: this.#o.layer }, 'dropping forbidden xattr');
        continue;
      }
      if (name === 'security.capability' && !this.#o.allowSetuid) {
        // file capabilities raise privileges on exec just like setuid bits do
        this.#o.logger.warn({ entry: h.name, layer: this.#o.layer }, 'dropping security.capability (setuid not allowed)');
        continue;
      }
      if (name === 'user.rootlesscontainers' && this.#o.rootless) {
        this.#o.logger.warn({ entry: h.name, layer: this.#o.layer }, 'dropping user.rootlesscontainers xattr from the layer');
        continue;
      }
      if (name.startsWith('security.') || name.startsWith('trusted.')) {
        // rootless (umoci --rootless): a file capability or trusted.* attribute set by whoever
        // unpacks (root, or root of a user namespace) would take effect on the host; dropped
        if (this.#o.rootless) {
          this.#o.logger.warn({ entry: h.name, xattr: name, layer: this.#o.layer }, 'dropping privileged xattr in rootless mode');
          continue;
        }
        // they need privilege: without it they cannot be set
        if (!this.#asRoot) {
          this.#o.logger.warn({ entry: h.name, xattr: name, layer: this.#o.layer }, 'dropping privileged xattr (not root)');
          continue;
        }
      }
      this.#xattrs.push({ path: abs, name, value });
    }
  }

  #applyDirMeta(abs: string, rel: string, h: TarEntryHeader): void {
    if (this.#o.rootless) this.#rootlessOwner(abs, h);
    else lchownSync(abs, h.uid, h.gid);
    this.#queueXattrs(abs, h);
    const st = lstatSync(abs);
    // the lchown may have changed the group new entries here inherit (setgid directory)
    const touched = this.#touchedParents.get(rel);
    if (touched !== undefined && touched.ino === st.ino) touched.gid = st.gid;
    else this.#touchedParents.delete(rel);
    // a repeated entry keeps its first position (parents before children) but its last values
    this.#deferred.set(rel, { abs, rel, ino: st.ino, mode: this.#mode(h.mode), mtime: h.mtime });
  }

  #remove(abs: string, rel: string, st: Stats): void {
    if (st.isDirectory()) rmSync(abs, { recursive: true, force: true });
    else unlinkSync(abs);
    if (st.isDirectory() || st.isSymbolicLink()) this.#invalidate(rel);
    else {
      this.#deferred.delete(rel);
      this.#xattrs = this.#xattrs.filter((x) => x.path !== abs);
    }
  }

  #hardlink(abs: string, h: TarEntryHeader): void {
    this.#checkName(h.linkname, 'hardlink target');
    const target = cleanEntryPath(h.linkname);
    if (target.length === 0) this.#fail('hardlink to the root directory', h.name, 'invalid hardlink');
    const targetName = target[target.length - 1] as string;
    let targetParent = this.resolveDir(target.slice(0, -1), false, h.name);
    if (this.#o.lower && (targetParent === undefined || lstatSync(`${targetParent.abs}/${targetName}`, { throwIfNoEntry: false }) === undefined)) {
      // the target may live in a lower layer: copy it up (what overlayfs does on link())
      targetParent = this.resolveDir(target.slice(0, -1), true, h.name) as { abs: string; rel: string };
      const below = this.#below(targetParent.rel === '' ? targetName : `${targetParent.rel}/${targetName}`);
      if (below?.kind === 'file') this.#copyUp(below.abs, below.stat, `${targetParent.abs}/${targetName}`);
      else if (below?.kind === 'symlink') {
        // link(2) of a symlink links the symlink itself: copy the lower symlink up (never followed)
        const copy = `${targetParent.abs}/${targetName}`;
        const st = lstatSync(below.abs);
        symlinkSync(below.target, copy);
        if (!this.#o.rootless) lchownSync(copy, st.uid, st.gid);
        lutimesSync(copy, st.atimeMs / 1000, st.mtimeMs / 1000);
      }
    }
    const targetAbs = targetParent ? `${targetParent.abs}/${targetName}` : undefined;
    const st = targetAbs ? lstatSync(targetAbs, { throwIfNoEntry: false }) : undefined;
    if (!targetAbs || !st) this.#fail(`hardlink target '${h.linkname.slice(0, 300)}' does not exist in the root`, h.name, 'invalid hardlink');
    if (st.isDirectory()) this.#fail(`hardlink target '${h.linkname.slice(0, 300)}' is a directory`, h.name, 'invalid hardlink');
    if (targetAbs === abs) return;
    linkSync(targetAbs, abs);
  }

  /** Copies a regular file of a lower layer into this layer (content, owner, mode, times). */
  #copyUp(source: string, st: Stats, target: string): void {
    copyFileSync(source, target, constants.COPYFILE_EXCL);
    const fd = openSync(target, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      if (!this.#o.rootless) fchownSync(fd, st.uid, st.gid);
      fchmodSync(fd, st.mode & 0o7777);
      futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
    } finally {
      closeSync(fd);
    }
  }

  #special(abs: string, h: TarEntryHeader, parentComponents: readonly string[]): void {
    if ((this.#o.rootless || !this.#asRoot) && h.type !== 'fifo') {
      // umoci: without privilege a device node becomes an empty regular file (header mode kept)
      const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0);
      try {
        fchmodSync(fd, this.#mode(h.mode));
        futimesSync(fd, h.mtime, h.mtime);
      } finally {
        closeSync(fd);
      }
      if (this.#o.rootless) this.#rootlessOwner(abs, h);
      this.#queueXattrs(abs, h);
      return;
    }
    // made with the next nodes of this directory; owner, mode, times and xattrs then (#makeNodes)
    const type = h.type as NodeToMake['type'];
    this.#queueNode(parentComponents, { path: abs, type, major: h.devmajor, minor: h.devminor }, h.name, h);
  }

  /** Queues a node (`header`: a device node or FIFO to give its metadata; none: an overlay whiteout). */
  #queueNode(parentComponents: readonly string[], node: NodeToMake, entry: string, header?: TarEntryHeader): void {
    // entry() made the queued nodes first unless this one is beside them (#besideNodes)
    this.#nodesDir = parentComponents.join('/');
    this.#nodes.push({ node, entry, header });
    this.#nodeNames.add(node.path.slice(node.path.lastIndexOf('/') + 1));
  }

  /** Whether an entry leaves the queued nodes alone: in their directory, not one of their names, no hardlink, no opaque whiteout. */
  #besideNodes(components: readonly string[], h: TarEntryHeader): boolean {
    if (components.length === 0 || h.type === 'link') return false;
    const base = components[components.length - 1] as string;
    if (base === '.wh..wh..opq') return false;
    if (this.#nodeNames.has(base.startsWith('.wh.') ? base.slice('.wh.'.length) : base)) return false;
    return components.slice(0, -1).join('/') === this.#nodesDir;
  }

  /** Makes the queued nodes (one process), then gives each device node and FIFO its header's owner, mode, times and xattrs. */
  #makeNodes(): void {
    const queued = this.#nodes;
    this.#nodes = [];
    this.#nodeNames.clear();
    const failed = makeNodes(queued.map((q) => q.node));
    if (failed) this.#fail(failed.message, queued[failed.index]?.entry, 'io');
    for (const { node, header: h } of queued) {
      // an overlay whiteout stays root's 0600 node
      if (h === undefined) continue;
      if (this.#o.rootless) this.#rootlessOwner(node.path, h);
      else lchownSync(node.path, h.uid, h.gid);
      // a fresh node (not a symlink) at a path whose parents were resolved in the root
      chmodSync(node.path, this.#mode(h.mode));
      lutimesSync(node.path, h.mtime, h.mtime);
      this.#queueXattrs(node.path, h);
    }
  }

  #whiteout(parentComponents: readonly string[], base: string, h: TarEntryHeader): void {
    if (base === '.wh..wh..opq') {
      this.#opaque(parentComponents, h);
      return;
    }
    const name = base.slice('.wh.'.length);
    if (name === '') this.#fail('invalid whiteout with empty name', h.name, 'invalid whiteout');
    if (name === '.' || name === '..') this.#fail(`invalid whiteout name '${base}'`, h.name, 'invalid whiteout');
    if (name.startsWith('.wh.')) {
      this.#o.logger.debug({ entry: h.name, layer: this.#o.layer }, 'skipping aufs metadata whiteout');
      return;
    }
    if (h.type !== 'file') this.#fail('whiteout entries must be regular files', h.name, 'invalid whiteout');
    if (this.#o.whiteouts === 'overlay') {
      // only what exists below can be hidden: never make directories for a whiteout of nothing
      const parent = this.resolveDir(parentComponents, 'lower', h.name);
      if (!parent) return;
      const rel = parent.rel === '' ? name : `${parent.rel}/${name}`;
      const abs = `${parent.abs}/${name}`;
      const existing = lstatSync(abs, { throwIfNoEntry: false });
      if (existing !== undefined) {
        // content of this same layer: the whiteout only hides lower content -> opaque directory
        if (existing.isDirectory()) this.#markOpaque(abs, rel);
        return;
      }
      if (this.#whited.has(rel) || this.#below(rel) === undefined) return;
      if (this.#lowerLinks.delete(rel)) this.#invalidate(rel);
      this.#whited.add(rel);
      this.record.whiteouts.push(rel);
      this.#markUpper(rel);
      if (this.#asRoot && !this.#o.rootless) this.#queueNode(parentComponents, { path: abs, type: 'char', major: 0, minor: 0 }, h.name);
      return;
    }
    const parent = this.resolveDir(parentComponents, false, h.name);
    if (!parent) return;
    this.#touch(parent);
    const rel = parent.rel === '' ? name : `${parent.rel}/${name}`;
    const abs = `${parent.abs}/${name}`;
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    this.record.whiteouts.push(rel);
    if (this.#upper.has(rel)) {
      if (st.isDirectory()) this.#pruneLower(abs, rel);
      return;
    }
    this.#remove(abs, rel, st);
  }

  #markOpaque(abs: string, rel: string): void {
    if (this.#opaqueDirs.has(rel)) return;
    this.#opaqueDirs.add(rel);
    this.record.opaques.push(rel);
    if (this.#asRoot && !this.#o.rootless && this.#o.opaqueMarkers !== false) this.#xattrs.push({ path: abs, name: 'trusted.overlay.opaque', value: Buffer.from('y') });
  }

  #opaque(parentComponents: readonly string[], h: TarEntryHeader): void {
    if (this.#o.whiteouts === 'overlay') {
      const parent = this.resolveDir(parentComponents, 'lower', h.name);
      if (!parent) return;
      this.#markUpper(parent.rel);
      this.#markOpaque(parent.abs, parent.rel);
      return;
    }
    const parent = this.resolveDir(parentComponents, false, h.name);
    if (!parent) return;
    this.record.opaques.push(parent.rel);
    this.#pruneLower(parent.abs, parent.rel);
  }

  /** Removes everything under a directory that this layer did not write. */
  #pruneLower(abs: string, rel: string): void {
    for (const child of readdirSync(abs)) {
      const childRel = rel === '' ? child : `${rel}/${child}`;
      const childAbs = `${abs}/${child}`;
      const st = lstatSync(childAbs);
      if (!this.#upper.has(childRel)) this.#remove(childAbs, childRel, st);
      else if (st.isDirectory()) this.#pruneLower(childAbs, childRel);
    }
  }

  /** Applies deferred directory metadata and extended attributes. Call once after the archive ended. */
  async finish(signal?: AbortSignal): Promise<void> {
    this.record.implicitDirs = this.record.implicitDirs.filter((d) => !this.#explicitDirs.has(d));
    if (this.#fd !== undefined) {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
    if (this.#nodes.length > 0) this.#makeNodes();
    if (this.#respecified.length > 0 && this.#o.existingXattrs !== false) {
      // umoci semantics: a directory given again by a later layer gets exactly that layer's xattrs
      const wanted = new Set(this.#xattrs.map((x) => `${x.path}\0${x.name}`));
      const existing = await readXattrs(this.#respecified, signal, `layer ${this.#o.layer} sets directories again whose lower layers carry extended attributes`);
      for (const [path, attrs] of existing) {
        for (const name of attrs.keys()) {
          if (wanted.has(`${path}\0${name}`)) continue;
          if (this.#o.rootless && name === 'user.rootlesscontainers') continue;
          if ((name.startsWith('security.') || name.startsWith('trusted.')) && (this.#o.rootless || !this.#asRoot)) continue;
          await removeXattr(path, name, this.#o.logger);
        }
      }
    }
    this.#respecified = [];
    if (this.#xattrs.length > 0) {
      this.record.hasXattrs = true;
      await writeXattrs(this.#xattrs, this.#o.logger, signal, this.#o.layer);
      this.#xattrs = [];
    }
    for (const [rel, t] of this.#touchedParents) {
      if (this.#explicitDirs.has(rel)) continue;
      let fd: number;
      try {
        fd = openSync(t.abs, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch {
        continue;
      }
      try {
        if (fstatSync(fd).ino === t.ino) futimesSync(fd, t.atime, t.mtime);
      } finally {
        closeSync(fd);
      }
    }
    this.#touchedParents.clear();
    for (const d of [...this.#deferred.values()].reverse()) {
      let fd: number;
      try {
        fd = openSync(d.abs, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch {
        continue;
      }
      try {
        if (fstatSync(fd).ino !== d.ino) continue;
        fchmodSync(fd, d.mode);
        futimesSync(fd, d.mtime, d.mtime);
      } finally {
        closeSync(fd);
      }
    }
    this.#deferred.clear();
  }

  /** Closes an open file after a failure. */
  abort(): void {
    this.#nodes = [];
    this.#nodeNames.clear();
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // already failed
      }
      this.#fd = undefined;
    }
  }
}
